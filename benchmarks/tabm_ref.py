"""TabM as a reference model: the official ``tabm`` package with its paper's default recipe.

Recipe (Gorishniy et al., ICLR 2025, and the package's example): numeric columns
(those with two values or more in the training rows: the bins need them)
imputed with the training median and quantile-normalised (normal output, n_quantiles =
clip(n / 30, 10, 1000), a little noise on the training values), piecewise-linear
embeddings (48 bins, d = 16, version B), categorical columns one-hot inside the model
(missing and unseen as one more level), ``TabM.make`` defaults (k = 32, 2 blocks of 512,
dropout 0.1), AdamW on every parameter (lr 2e-3, weight decay 3e-4), batch 256, gradient
norm clipped at 1, the k members trained on the same batches with the mean of their cross-entropies,
prediction the mean of the members' probabilities, and early stopping on the validation
accuracy of that mean with patience 16 (the best epoch's weights restored).

The validation rows are 20% of the training rows, chosen as nncli's models choose them.
"""

from __future__ import annotations

import copy
import math

import numpy as np

N_BINS, D_EMBEDDING, LR, WEIGHT_DECAY, BATCH, PATIENCE, CLIP = 48, 16, 2e-3, 3e-4, 256, 16, 1.0


class TabMClassifier:
    """fit(X, y) / predict_proba(X) on a DataFrame of numeric and category columns."""

    def __init__(self, seed: int, max_epochs: int = 100_000) -> None:
        self.seed, self.max_epochs = seed, max_epochs

    def fit(self, X, y: np.ndarray) -> TabMClassifier:
        import torch

        from nncli.learn.fitting import stratified_split

        torch.manual_seed(self.seed)
        torch.set_num_threads(2)
        fit_part, valid_part = stratified_split(y, 0.2, self.seed + 1)
        self._prepare(X.iloc[fit_part])
        self.n_classes = int(y.max()) + 1
        train, valid = self._tensors(X.iloc[fit_part]), self._tensors(X.iloc[valid_part])
        self.model = self._model(train[0])
        self.best_epoch, self.epochs = self._train(train, y[fit_part], valid, y[valid_part])
        return self

    def predict_proba(self, X) -> np.ndarray:
        return self._proba(self._tensors(X))

    def _prepare(self, X) -> None:
        from sklearn.preprocessing import QuantileTransformer

        numeric = [c for c in X.columns if X[c].dtype != "category"]
        self.numeric = [c for c in numeric if X[c].nunique() > 1]  # compute_bins needs two
        self.categorical = [c for c in X.columns if X[c].dtype == "category"]
        values = X[self.numeric].to_numpy(dtype=np.float64)
        self.medians = np.nan_to_num(np.nanmedian(values, axis=0)) if self.numeric else None
        self.levels = {c: list(X[c].cat.categories) for c in self.categorical}
        if self.numeric:
            filled = np.where(np.isnan(values), self.medians, values)
            noise = np.random.default_rng(self.seed).normal(0.0, 1e-5, filled.shape)  # ties
            n_quantiles = max(min(len(filled) // 30, 1000), 10)
            self.quantiles = QuantileTransformer(
                n_quantiles=n_quantiles, output_distribution="normal", subsample=10**9,
                random_state=self.seed,
            ).fit(filled + noise)  # fmt: skip

    def _tensors(self, X):
        import torch

        x_num = x_cat = None
        if self.numeric:
            values = X[self.numeric].to_numpy(dtype=np.float64)
            values = np.where(np.isnan(values), self.medians, values)
            x_num = torch.as_tensor(self.quantiles.transform(values), dtype=torch.float32)
        if self.categorical:
            codes = []
            for c in self.categorical:  # a level not seen in training, or missing: one more
                index = {v: i for i, v in enumerate(self.levels[c])}
                missing = len(index)
                codes.append([index.get(v, missing) for v in X[c].astype(object)])
            x_cat = torch.as_tensor(np.array(codes).T, dtype=torch.long)
        return x_num, x_cat

    def _model(self, x_num):
        import rtdl_num_embeddings
        import tabm

        embeddings = None
        if x_num is not None:
            bins = rtdl_num_embeddings.compute_bins(x_num, n_bins=N_BINS)
            embeddings = rtdl_num_embeddings.PiecewiseLinearEmbeddings(
                bins, D_EMBEDDING, activation=False, version="B"
            )
        cardinalities = [len(self.levels[c]) + 1 for c in self.categorical]
        return tabm.TabM.make(
            n_num_features=0 if x_num is None else x_num.shape[1],
            cat_cardinalities=cardinalities or None,
            d_out=self.n_classes,
            num_embeddings=embeddings,
        )

    def _train(self, train, y_train, valid, y_valid) -> tuple[int, int]:
        import torch
        import torch.nn.functional as F

        optimizer = torch.optim.AdamW(self.model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        target = torch.as_tensor(y_train, dtype=torch.long)
        n, k = len(target), self.model.k
        generator = torch.Generator().manual_seed(self.seed)
        best, best_epoch, best_state, epoch = -math.inf, 0, None, 0
        for epoch in range(1, self.max_epochs + 1):
            self.model.train()
            for batch in torch.randperm(n, generator=generator).split(BATCH):
                logits = self.model(*(None if t is None else t[batch] for t in train))
                loss = F.cross_entropy(logits.flatten(0, 1), target[batch].repeat_interleave(k))
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), CLIP)
                optimizer.step()
            score = float((self._proba(valid).argmax(1) == y_valid).mean())
            if score > best:
                best, best_epoch, best_state = score, epoch, copy.deepcopy(self.model.state_dict())
            elif epoch - best_epoch >= PATIENCE:
                break
        self.model.load_state_dict(best_state)
        return best_epoch, epoch

    def _proba(self, tensors) -> np.ndarray:
        import torch

        self.model.eval()
        n = len(next(t for t in tensors if t is not None))
        out = []
        with torch.inference_mode():
            for rows in torch.arange(n).split(4096):
                logits = self.model(*(None if t is None else t[rows] for t in tensors))
                out.append(torch.softmax(logits.float(), dim=-1).mean(1))
        return torch.cat(out).numpy().astype(np.float64)
