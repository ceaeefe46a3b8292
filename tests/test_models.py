"""Every model learns; the MLP's parts do what the course says they do."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

import nncli
from nncli.config import ACTIVATION_NAMES, MLPConfig, RunConfig, Settings
from nncli.errors import TrainingError
from nncli.learn.models.base import FitData
from nncli.learn.models.mlp import MLP, Maxout, MLPModel
from nncli.learn.training import Step, Tensors, evaluate_loss, train_epoch
from tests.conftest import SAMPLE

PHYSICS = SAMPLE / "physics.csv"
FAST_MLP = MLPConfig(hidden=(64, 64), epochs=40, patience=8)


@pytest.fixture(scope="module")
def circles(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two classes on concentric rings: no linear model can separate them."""
    rng = np.random.default_rng(0)
    n = 800
    inner = rng.random(n) < 0.5
    radius = np.where(inner, rng.normal(1.0, 0.15, n), rng.normal(2.0, 0.15, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    frame = pd.DataFrame(
        {
            "x1": radius * np.cos(angle),
            "x2": radius * np.sin(angle),
            "label": np.where(inner, "inner", "outer"),
        }
    )
    path = tmp_path_factory.mktemp("data") / "circles.csv"
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    "model,floor",
    [
        ("majority", 0.5),
        ("logreg", 0.88),
        ("fisher", 0.88),
        ("gbt", 0.95),
        ("mlp", 0.95),
    ],
)
def test_every_model_learns_the_physics_sample(model, floor):
    settings = Settings(mlp=FAST_MLP)
    auc = nncli.train(PHYSICS, model=model, settings=settings).metrics["valid"]["auc"]
    if model == "majority":
        assert auc == 0.5
    else:
        assert auc >= floor, f"{model} AUC {auc:.3f} below {floor}"


@pytest.mark.parametrize("activation", [a for a in ACTIVATION_NAMES if a != "identity"])
def test_every_activation_learns_a_nonlinear_boundary(circles, activation):
    # one hidden layer: a deep sigmoid stack learns far slower (vanishing gradients)
    config = MLPConfig(
        hidden=(16,),
        activation=activation,
        epochs=30,
        patience=30,
        lr=2e-2,
        dropout=0.0,
        batch_size=32,
    )
    result = nncli.train(circles, model="mlp", settings=Settings(mlp=config))
    assert result.metrics["valid"]["accuracy"] >= 0.95, result.metrics["valid"]
    linear = nncli.train(circles, model="logreg").metrics["valid"]["accuracy"]
    assert linear < 0.7  # the boundary really is nonlinear


def test_maxout_is_the_max_of_its_affine_pieces():
    torch.manual_seed(0)
    layer = Maxout(3, 4, pieces=3)
    x = torch.randn(10, 3)
    w = layer.linear.weight.view(4, 3, 3)  # (unit, piece, input)
    b = layer.linear.bias.view(4, 3)
    pieces = torch.einsum("upi,ni->nup", w, x) + b
    assert torch.allclose(layer(x), pieces.max(dim=-1).values, atol=1e-6)
    assert layer(x).shape == (10, 4)


def test_identity_activation_mlp_is_a_linear_model():
    torch.manual_seed(0)
    net = MLP(
        5, 3, MLPConfig(hidden=(16, 16, 16), activation="identity", dropout=0.0, init="torch")
    ).eval()
    x, y = torch.randn(7, 5), torch.randn(7, 5)
    a = 0.3
    with torch.no_grad():
        mixed = net(a * x + (1 - a) * y)
        assert torch.allclose(mixed, a * net(x) + (1 - a) * net(y), atol=1e-5)


class RecordingSGD(torch.optim.SGD):
    """Records the gradient norm each step sees (after any clipping)."""

    def __init__(self, params):
        super().__init__(params, lr=0.0)
        self.norms: list[float] = []

    def step(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        self.norms.append(
            float(
                torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            )
        )
        return super().step(closure)


@pytest.mark.parametrize("clip", [None, 0.05])
def test_gradient_clipping_bounds_the_gradient_norm(clip):
    torch.manual_seed(0)
    config = MLPConfig(hidden=(32,), clip_grad=clip, batch_size=16, dropout=0.0, init="he")
    net = MLP(4, 2, config)
    torch.nn.init.normal_(net.out.weight, std=3.0)  # large gradients to clip
    data = Tensors(torch.randn(64, 4) * 5, (torch.rand(64) > 0.5).float(), torch.ones(64))
    opt = RecordingSGD(net.parameters())
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    train_epoch(Step(net, opt, schedule, config), [data], torch.Generator().manual_seed(0))
    if clip is None:
        assert max(opt.norms) > 0.05  # so the clipped case is a real test
    else:
        assert max(opt.norms) <= clip * (1 + 1e-4)


def _noisy_fit_data(n: int = 300, d: int = 20, seed: int = 0) -> FitData:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] + rng.normal(scale=2.0, size=n) > 0).astype(np.int64)
    half = n // 2
    ones = np.ones(n)
    return FitData(X[:half], y[:half], ones[:half], X[half:], y[half:], ones[half:], 2)


def test_early_stopping_restores_the_best_epoch():
    data = _noisy_fit_data()
    config = MLPConfig(
        hidden=(256, 256),
        epochs=200,
        patience=5,
        lr=5e-3,
        dropout=0.0,
        weight_decay=0.0,
        schedule="constant",
    )
    model = MLPModel(2, config)
    report = model.fit(data)
    losses = [r["valid_loss"] for r in report.history]
    best = int(np.argmin(losses))
    assert report.stop_reason == "early_stopping" and report.best_epoch == best + 1
    assert len(losses) == best + 1 + config.patience < config.epochs
    va = Tensors(
        torch.from_numpy(data.X_valid),
        torch.from_numpy(data.y_valid).float(),
        torch.ones(len(data.y_valid)),
    )
    assert evaluate_loss(model.module, va)[0] == pytest.approx(losses[best], rel=1e-5)


def test_diverging_training_stops_with_a_hint():
    data = _noisy_fit_data()
    data.X *= 1e4
    config = MLPConfig(
        hidden=(64,),
        activation="identity",
        optimizer="sgd",
        lr=10.0,
        clip_grad=None,
        schedule="constant",
        epochs=20,
        scaler="none",
    )
    with pytest.raises(TrainingError) as err:
        MLPModel(2, config).fit(data)
    assert "loss became non-finite" in err.value.message
    assert "lower --lr" in err.value.hint


@pytest.mark.parametrize("model", ["majority", "logreg", "fisher", "gbt", "mlp"])
def test_save_load_predict_gives_identical_probabilities(tmp_path, model):
    result = nncli.train(PHYSICS, model=model, settings=Settings(mlp=FAST_MLP))
    path = tmp_path / "m.nncli"
    result.save(path)
    frame = pd.read_csv(PHYSICS)
    loaded = nncli.load(path)
    assert np.array_equal(loaded.predict_proba(frame), result.predictor.predict_proba(frame))
    assert loaded.classes == ["background", "signal"]


@pytest.mark.parametrize("model", ["gbt", "mlp"])
def test_same_seed_same_metrics_other_seed_other_split(model):
    def run(seed: int) -> dict[str, float]:
        settings = Settings(run=RunConfig(seed=seed), mlp=FAST_MLP)
        return nncli.train(PHYSICS, model=model, settings=settings).metrics["valid"]

    first = run(1)
    assert run(1) == first
    assert run(2) != first


def test_class_weight_balanced_raises_minority_recall(tmp_path):
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(size=n)
    y = np.where(x + rng.normal(scale=1.0, size=n) > 2.0, "rare", "common")
    path = tmp_path / "imb.csv"
    pd.DataFrame({"x": x, "z": rng.normal(size=n), "label": y}).to_csv(path, index=False)
    plain = nncli.train(path, model="logreg").metrics["valid"]["balanced_accuracy"]
    balanced = nncli.train(
        path, model="logreg", settings=Settings(run=RunConfig(class_weight="balanced"))
    )
    assert balanced.metrics["valid"]["balanced_accuracy"] > plain + 0.05


@pytest.mark.parametrize("clip", [None, 0.05])
@pytest.mark.parametrize(("decoupled", "reference"), [(True, "AdamW"), (False, "Adam")])
def test_foreach_adam_steps_exactly_as_torch_optim(decoupled, reference, clip):
    """The CPU optimizer that spares torch.optim's first-use import of torch._dynamo
    gives the same weights, step for step, as torch's own, with a changing lr; with
    ``clip`` it clips the gradient norm as torch.nn.utils.clip_grad_norm_ does."""
    from nncli.learn.adam import ForeachAdam

    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 1))]
    nets.append(copy.deepcopy(nets[0]))

    def groups(net):
        weights = [p for p in net.parameters() if p.ndim > 1]
        biases = [p for p in net.parameters() if p.ndim <= 1]
        return [{"params": weights, "weight_decay": 0.01}, {"params": biases, "weight_decay": 0}]

    torch_adam = getattr(torch.optim, reference)
    opts = [ForeachAdam(groups(nets[0]), 0.01, (0.9, 0.95), decoupled, clip=clip),
            torch_adam(groups(nets[1]), lr=0.01, betas=(0.9, 0.95))]  # fmt: skip
    x, y = torch.randn(64, 5) * 3, torch.randn(64, 1)
    norms = []
    for _ in range(20):
        for net, opt in zip(nets, opts, strict=True):
            opt.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            if clip is not None and net is nets[1]:
                norms.append(float(torch.nn.utils.clip_grad_norm_(net.parameters(), clip)))
            opt.step()
            for group in opt.param_groups:
                group["lr"] *= 0.9
    for mine, theirs in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        if clip is None:
            assert torch.equal(mine, theirs)
        else:  # the norms are summed in another order (the groups', not the net's): rounding
            torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-7)
    if clip is not None:
        assert min(norms) > clip  # every step was clipped: the test tests the clipping
