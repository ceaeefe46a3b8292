"""Speed measurements, each as a ratio to a reference measured in the same run."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NNCLI = [sys.executable, "-m", "nncli"]


def matmul_gflops(n: int = 1024, reps: int = 30) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(5):
        a @ b
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def _dense_flops_per_sample(widths: list[int]) -> int:
    """Forward + backward of the linear layers: ~6 FLOPs per weight per sample."""
    return 6 * sum(a * b for a, b in zip(widths, widths[1:], strict=False))


def mlp_throughput(
    width: int, batch: int, n: int = 100_000, d: int = 50, epochs: int = 2
) -> dict[str, float]:
    """Samples/s of nncli's loop, a DataLoader loop, a plain loop over pre-shuffled tensors
    (torch's own ceiling here) and scikit-learn's MLPClassifier."""
    import torch
    from sklearn.neural_network import MLPClassifier

    from nncli.config import MLPConfig
    from nncli.learn.models.mlp import MLP
    from nncli.learn.training import Step, Tensors, make_optimizer, make_schedule, train_epoch

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(np.float32)
    config = MLPConfig(
        hidden=(width, width),
        batch_size=batch,
        clip_grad=None,
        optimizer="adam",
        schedule="constant",
        weight_decay=0.0,
    )
    torch.manual_seed(0)
    net = MLP(d, 2, config)
    data = Tensors(torch.from_numpy(X), torch.from_numpy(y), torch.ones(n))
    opt = make_optimizer(net, config)
    step = Step(net, opt, make_schedule(opt, config, 10**6), config)
    gen = torch.Generator().manual_seed(0)
    warm = Tensors(data.X[: 20 * batch], data.y[: 20 * batch], data.w[: 20 * batch])
    train_epoch(step, [warm], gen)
    t = time.perf_counter()
    for _ in range(epochs):
        train_epoch(step, [data], gen)
    nncli_rate = n * epochs / (time.perf_counter() - t)

    plain = torch.nn.Sequential(
        torch.nn.Linear(d, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, width),
        torch.nn.ReLU(),
        torch.nn.Linear(width, 1),
    )
    popt = torch.optim.Adam(plain.parameters(), 1e-3)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
        batch_size=batch,
        shuffle=True,
    )
    t = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            loss = torch.nn.functional.binary_cross_entropy_with_logits(plain(xb)[:, 0], yb)
            popt.zero_grad()
            loss.backward()
            popt.step()
    loader_rate = n * epochs / (time.perf_counter() - t)

    # the plainest fast loop: batches sliced from pre-shuffled tensors, no DataLoader
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    t = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        Xs, ys = X_t[order], y_t[order]
        for start in range(0, n, batch):
            out = plain(Xs[start : start + batch])[:, 0]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                out, ys[start : start + batch]
            )
            popt.zero_grad()
            loss.backward()
            popt.step()
    plain_rate = n * epochs / (time.perf_counter() - t)

    sk = MLPClassifier(
        (width, width),
        batch_size=batch,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=10**6,
        random_state=0,
    )
    import warnings

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(X, y)
    sk_rate = n * epochs / (time.perf_counter() - t)
    return {
        "nncli": nncli_rate,
        "dataloader": loader_rate,
        "plain": plain_rate,
        "sklearn": sk_rate,
        "flops_per_sample": _dense_flops_per_sample([d, width, width, 1]),
    }


def plain_loop_rate(n: int, d: int, width: int, batch: int, epochs: int) -> float:
    """Samples/s of the plainest fast torch loop (batches sliced from tensors shuffled
    each epoch, Adam, no validation) on ``n`` random rows of ``d`` features."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(n, d, generator=gen)
    y = (X[:, 0] + X[:, 1] ** 2 > 1).float()
    net = torch.nn.Sequential(torch.nn.Linear(d, width), torch.nn.ReLU(),
                              torch.nn.Linear(width, width), torch.nn.ReLU(),
                              torch.nn.Linear(width, 1))  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    t = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        Xs, ys = X[order], y[order]
        for start in range(0, n, batch):
            out = net(Xs[start : start + batch])[:, 0]
            target = ys[start : start + batch]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(out, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return n * epochs / (time.perf_counter() - t)


def train_vs_plain(
    rows: int = 100_000, cols: int = 50, width: int = 256, batch: int = 256, epochs: int = 8,
    reps: int = 7,
) -> dict[str, float]:  # fmt: skip
    """Samples/s of ``nncli train -m mlp`` as a user times it (its ``fit_seconds``: the
    whole fit, validation passes and bookkeeping included; all ``epochs`` run) against
    the plain loop on the same training rows and shapes in a fresh process, alternately,
    medians of ``reps``."""
    import json

    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.csv"
        rng = np.random.default_rng(0)
        X = rng.normal(size=(rows, cols))
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(cols)])
        frame["label"] = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
        frame.to_csv(path, index=False, float_format="%.6g")
        ours, theirs = [], []
        for _ in range(reps):
            args = ["train", str(path), "-m", "mlp", "--hidden", f"{width},{width}",
                    "--batch-size", str(batch), "--epochs", str(epochs), "--patience",
                    str(epochs), "--json", "-o", str(Path(tmp) / "m.nncli"), "--force"]  # fmt: skip
            done = subprocess.run(NNCLI + args, check=True, capture_output=True, text=True,
                                  cwd=ROOT)  # fmt: skip
            report = json.loads(done.stdout)
            n_train = report["rows_train"]
            ours.append(n_train * len(report["history"]) / report["fit_seconds"])
            shape = f"{n_train}, {cols}, {width}, {batch}, {epochs}"
            code = f"from benchmarks.speed import plain_loop_rate; print(plain_loop_rate({shape}))"
            done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                  text=True, cwd=ROOT)  # fmt: skip
            theirs.append(float(done.stdout))
        return {
            "nncli": statistics.median(ours),
            "plain": statistics.median(theirs),
            "ratio": statistics.median(o / t for o, t in zip(ours, theirs, strict=True)),
            "rows_train": n_train,
            "load": os.getloadavg()[0],
        }


def command_seconds(args: list[str], reps: int = 5) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def startup() -> dict[str, float]:
    base = command_seconds([sys.executable, "-c", "pass"])
    return {
        "python": base,
        "help": command_seconds(NNCLI + ["--help"]),
        "inspect": command_seconds(NNCLI + ["inspect", "sample_data/physics.csv"]),
    }


def csv_ingest(rows: int = 500_000, cols: int = 30, reps: int = 7) -> dict[str, float]:
    """MB/s of nncli's reader (with its type inference and the file's SHA-256) and of
    pandas' C engine on the same file, run alternately ``reps`` times: medians, and the
    median of the pairs' ratios (nncli's rate over pandas')."""
    import pandas as pd

    from nncli.io.data import read_table

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "numbers.csv"
        rng = np.random.default_rng(0)
        pd.DataFrame(rng.normal(size=(rows, cols)), columns=[f"c{i}" for i in range(cols)]).to_csv(
            path, index=False, float_format="%.6g"
        )
        mb = path.stat().st_size / 1e6

        import pyarrow as pa
        import pyarrow.csv as pacsv

        raw = path.read_bytes()
        runs = {
            "nncli": lambda: read_table(path),
            "pandas_c": lambda: pd.read_csv(path, engine="c"),
            # the parse alone, from bytes in memory: no reading, no DataFrame
            "pyarrow_parse": lambda: pacsv.read_csv(pa.BufferReader(raw)),
            # the least a pyarrow-based reader does: the file in, a DataFrame out
            "pyarrow_frame": lambda: pacsv.read_csv(path).to_pandas(split_blocks=True),
        }
        for fn in runs.values():
            fn()
        times: dict[str, list[float]] = {name: [] for name in runs}
        # nncli against pandas first, then pyarrow's pair: a pyarrow read just before
        # slowed the next reader (its pool and allocator): 0.71x where alone 0.95-1.0x
        for group in (("nncli", "pandas_c"), ("pyarrow_parse", "pyarrow_frame")):
            for _ in range(reps):
                for name in group:
                    t = time.perf_counter()
                    runs[name]()
                    times[name].append(time.perf_counter() - t)
        out = {name: mb / statistics.median(t) for name, t in times.items()}
        pairs = zip(times["pandas_c"], times["nncli"], strict=True)
        return out | {"mb": mb, "ratio": statistics.median(p / n for p, n in pairs)}


def predict_memory(gigabytes: float) -> dict[str, float]:
    """Rows/s and peak RSS of ``nncli predict`` on a generated CSV of the given size."""
    import pandas as pd

    with tempfile.TemporaryDirectory(dir=ROOT) as tmp:
        tmp = Path(tmp)
        model = tmp / "physics.nncli"
        subprocess.run(
            NNCLI + ["train", "sample_data/physics.csv", "-o", str(model), "-q"],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        big = tmp / "big.csv"
        block = pd.read_csv(ROOT / "sample_data" / "physics.csv").drop(columns="label")
        text = block.to_csv(index=False, header=False)
        with big.open("w") as fh:
            fh.write(",".join(block.columns) + "\n")
            while fh.tell() < gigabytes * 1e9:
                fh.write(text)
        rows = sum(1 for _ in big.open()) - 1
        # the peak of the predict process alone: this process's RUSAGE_CHILDREN would also
        # hold its earlier children's (the training above, the startup commands)
        wrapper = (
            "import resource, subprocess, sys; "
            "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", wrapper, *NNCLI, "predict", str(model), str(big), "-o",
             str(tmp / "out.csv")],
            check=True, cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - t
        return {
            "gb": big.stat().st_size / 1e9,
            "rows": rows,
            "rows_per_s": rows / seconds,
            "peak_rss_mb": int(done.stdout.split()[-1]) / 1024,
            "load": os.getloadavg()[0],
        }


def first_rough_result(data: Path, target: str) -> dict[str, float]:
    """Seconds from starting ``nncli compare`` to its first and to its gbt row on stderr."""
    t = time.perf_counter()
    proc = subprocess.Popen(
        NNCLI
        + [
            "compare",
            str(data),
            "--target",
            target,
            "--models",
            "majority,logreg,fisher,gbt",
            "--bootstrap",
            "200",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=os.environ | {"COLUMNS": "200"},
    )
    first = gbt = float("nan")
    assert proc.stderr is not None
    for line in proc.stderr:
        now = time.perf_counter() - t
        if first != first:
            first = now
        if " gbt " in line:
            gbt = now
    proc.wait()
    return {"first_row": first, "gbt_row": gbt, "total": time.perf_counter() - t}


def compare_overhead(data: Path, reps: int = 3) -> dict[str, float]:
    """A small comparison's fixed cost: wall time of ``nncli compare`` on a small file
    minus the seconds its models spent fitting (the ensemble's own blending counts as
    overhead), median of ``reps``; beside it, what importing the libraries it needs
    costs by itself (torch, LightGBM, scikit-learn, scipy.stats for the tests, pandas,
    pyarrow)."""
    import json

    walls, fits = [], []
    for _ in range(reps):
        t = time.perf_counter()
        done = subprocess.run(NNCLI + ["compare", str(data), "--json"], check=True,
                              capture_output=True, cwd=ROOT, text=True)  # fmt: skip
        walls.append(time.perf_counter() - t)
        models = json.loads(done.stdout)["models"]
        fits.append(sum(m["fit_seconds"] for m in models if m["model"] != "ensemble"))
    imports = "import torch, lightgbm, sklearn.linear_model, scipy.stats, pandas, pyarrow"
    floor = command_seconds([sys.executable, "-c", imports], reps) - command_seconds(
        [sys.executable, "-c", "pass"], reps
    )
    overheads = [w - f for w, f in zip(walls, fits, strict=True)]
    return {
        "wall": statistics.median(walls),
        "fit_sum": statistics.median(fits),
        "overhead": statistics.median(overheads),
        "imports": floor,
        "beyond_imports": statistics.median(overheads) - floor,
        "load": os.getloadavg()[0],
    }


def small_compares(data: Path, reps: int = 3) -> dict[str, Any]:
    """compare_overhead on three small sets (569 to 2,532 rows in the issue that set the
    target): credit_g and segment from sample_data, soybean from ``data`` when there;
    the median of their overheads beyond the imports."""
    files = [ROOT / "sample_data" / "credit_g.csv", ROOT / "sample_data" / "segment.csv",
             data / "soybean.csv"]  # fmt: skip
    sets = {f.stem: compare_overhead(f, reps) for f in files if f.exists()}
    beyond = statistics.median(s["beyond_imports"] for s in sets.values())
    return {"sets": sets, "beyond_imports": beyond, "load": os.getloadavg()[0]}


def inspect_vs_read_csv(rows: int = 1_680_000, cols: int = 30, reps: int = 3) -> dict[str, Any]:
    """Whole-process seconds of ``nncli inspect`` and of ``pandas.read_csv`` on one
    numeric CSV of about 460 MB (medians of ``reps``, run alternately), and of pyarrow
    reading it into a DataFrame with each block size of BLOCK_SIZES (MB): the block
    size of nncli's whole-file reader is chosen from these."""
    import pandas as pd

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "numbers.csv"
        rng = np.random.default_rng(1)
        with path.open("w") as fh:
            for part in range(4):
                block = rng.normal(size=(rows // 4, cols))
                pd.DataFrame(block, columns=[f"c{j}" for j in range(cols)]).to_csv(
                    fh, index=False, header=part == 0, float_format="%.6g"
                )
        runs: dict[str, list[str]] = {
            "inspect": NNCLI + ["inspect", str(path)],
            "read_csv": [sys.executable, "-c", f"import pandas; pandas.read_csv({str(path)!r})"],
            # the least a pyarrow-based reader does: the file in, a DataFrame out
            "pyarrow_frame": [sys.executable, "-c", f"import pyarrow.csv; "
                              f"pyarrow.csv.read_csv({str(path)!r}).to_pandas()"],
        }  # fmt: skip
        for mb in BLOCK_SIZES:
            code = _ARROW_BLOCKS.format(path=str(path), mb=mb)
            runs[f"block_{mb}"] = [sys.executable, "-c", code]
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(reps):
            for name, args in runs.items():
                times[name].append(command_seconds(args, 1))
        out: dict[str, Any] = {name: statistics.median(t) for name, t in times.items()}
        out["ratio"] = statistics.median(
            i / r for i, r in zip(times["inspect"], times["read_csv"], strict=True)
        )
        return out | {"mb": path.stat().st_size / 1e6, "load": os.getloadavg()[0]}


#: pyarrow block sizes (MB) measured by inspect_vs_read_csv
BLOCK_SIZES = (1, 4, 8, 16, 32)
_ARROW_BLOCKS = (
    "import pyarrow.csv as c; c.read_csv({path!r}, c.ReadOptions(block_size={mb} << 20))"
    ".to_pandas(split_blocks=True)"
)
