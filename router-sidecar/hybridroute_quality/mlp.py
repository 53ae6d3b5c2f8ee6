"""A tiny two-head MLP: ``tanh`` hidden layer over the dense features, plus an optional
linear term over hashed features, numpy only.

Two sigmoid outputs (small model answers well, large model answers well) trained jointly
with cross-entropy, full-batch Adam, L2, fixed epochs and a seeded initialisation:
deterministic, seconds on 10k rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hybridroute_quality.linear import F64, SparseRows

DEFAULT_HIDDEN = 16


@dataclass(frozen=True, slots=True)
class MlpOptions:
    hidden: int = DEFAULT_HIDDEN
    l2: float = 1e-3
    epochs: int = 300
    learning_rate: float = 0.01
    seed: int = 0


@dataclass(frozen=True, slots=True)
class MlpModel:
    w1: F64  # (n_dense, hidden)
    b1: F64  # (hidden,)
    w2: F64  # (hidden, 2)
    b2: F64  # (2,)
    hashed: F64  # (2, dim) or (2, 0)

    def logits(self, dense: F64, sparse: SparseRows | None) -> F64:
        z = np.tanh(dense @ self.w1 + self.b1) @ self.w2 + self.b2
        if sparse is not None and self.hashed.shape[1]:
            z = z + np.stack([sparse.matvec(self.hashed[h]) for h in range(2)], axis=1)
        return np.asarray(z, dtype=np.float64)


def fit_mlp(
    dense: F64, sparse: SparseRows | None, targets: F64, options: MlpOptions | None = None
) -> MlpModel:
    """Fit ``targets`` (n, 2) in [0, 1]: column 0 small, column 1 large."""
    opts = options or MlpOptions()
    n, d = dense.shape
    if n == 0:
        raise ValueError("no training rows")
    rng = np.random.default_rng(opts.seed)
    params = [
        rng.normal(0.0, 1.0 / np.sqrt(max(d, 1)), (d, opts.hidden)),
        np.zeros(opts.hidden),
        rng.normal(0.0, 1.0 / np.sqrt(opts.hidden), (opts.hidden, 2)),
        np.zeros(2),
        np.zeros((2, sparse.dim if sparse is not None else 0)),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    for t in range(1, opts.epochs + 1):
        w1, b1, w2, b2, hashed = params
        hidden = np.tanh(dense @ w1 + b1)
        z = hidden @ w2 + b2
        if sparse is not None:
            z = z + np.stack([sparse.matvec(hashed[h]) for h in range(2)], axis=1)
        residual = (1.0 / (1.0 + np.exp(-z)) - targets) / n
        d_hidden = (residual @ w2.T) * (1.0 - hidden * hidden)
        grads = [
            dense.T @ d_hidden + opts.l2 * w1,
            d_hidden.sum(axis=0),
            hidden.T @ residual + opts.l2 * w2,
            residual.sum(axis=0),
            (
                np.stack([sparse.rmatvec(residual[:, h]) for h in range(2)]) + opts.l2 * hashed
                if sparse is not None
                else hashed
            ),
        ]
        for i, g in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            step = (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
            params[i] = params[i] - opts.learning_rate * step
    w1, b1, w2, b2, hashed = params
    return MlpModel(w1=w1, b1=b1, w2=w2, b2=b2, hashed=hashed)
