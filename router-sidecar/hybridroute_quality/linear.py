"""Logistic regression over a dense block and a sparse (hashed) block, numpy only.

Full-batch Adam with L2, a fixed number of epochs from zero weights: deterministic, a
few seconds on 10k rows. Small data, strong regularisation: the point is to carry over
to unseen subjects, not to fit these ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hybridroute_router.scorers.hashed import SparseVector

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SparseRows:
    """Rows of hashed features in CSR form."""

    row_ids: npt.NDArray[np.int64]
    indices: npt.NDArray[np.int64]
    values: F64
    n_rows: int
    dim: int

    @classmethod
    def from_vectors(cls, vectors: Sequence[SparseVector], dim: int) -> SparseRows:
        lengths = np.asarray([v.indices.size for v in vectors], dtype=np.int64)
        if not vectors:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, np.zeros(0), 0, dim)
        return cls(
            row_ids=np.repeat(np.arange(len(vectors), dtype=np.int64), lengths),
            indices=np.concatenate([v.indices for v in vectors]).astype(np.int64),
            values=np.concatenate([v.values for v in vectors]).astype(np.float64),
            n_rows=len(vectors),
            dim=dim,
        )

    def matvec(self, weights: F64) -> F64:
        out = np.bincount(
            self.row_ids, weights=weights[self.indices] * self.values, minlength=self.n_rows
        )
        return out.astype(np.float64)

    def rmatvec(self, residual: F64) -> F64:
        out = np.bincount(
            self.indices, weights=residual[self.row_ids] * self.values, minlength=self.dim
        )
        return out.astype(np.float64)


@dataclass(frozen=True, slots=True)
class LinearModel:
    dense: F64
    bias: float
    hashed: F64

    def logits(self, dense: F64, sparse: SparseRows | None) -> F64:
        z = dense @ self.dense + self.bias
        if sparse is not None and self.hashed.size:
            z = z + sparse.matvec(self.hashed)
        return np.asarray(z, dtype=np.float64)


DEFAULT_L2 = 0.01
DEFAULT_EPOCHS = 100


@dataclass(frozen=True, slots=True)
class FitOptions:
    l2: float = DEFAULT_L2
    epochs: int = DEFAULT_EPOCHS
    learning_rate: float = 0.05


class _Adam:
    def __init__(self, lr: float) -> None:
        self.lr = lr
        self.m: dict[str, F64] = {}
        self.v: dict[str, F64] = {}

    def step(self, name: str, weights: F64, grad: F64, t: int) -> F64:
        m = 0.9 * self.m.get(name, np.zeros_like(grad)) + 0.1 * grad
        v = 0.999 * self.v.get(name, np.zeros_like(grad)) + 0.001 * grad * grad
        self.m[name], self.v[name] = m, v
        m_hat = m / (1 - 0.9**t)
        v_hat = v / (1 - 0.999**t)
        return np.asarray(weights - self.lr * m_hat / (np.sqrt(v_hat) + 1e-8), dtype=np.float64)


def fit_logistic(
    dense: F64, sparse: SparseRows | None, target: F64, options: FitOptions | None = None
) -> LinearModel:
    """Fit ``P(target = 1)`` (targets may be fractional qualities in [0, 1])."""
    opts = options or FitOptions()
    n = dense.shape[0]
    if n == 0:
        raise ValueError("no training rows")
    w = np.zeros(dense.shape[1])
    b = np.zeros(1)
    h = np.zeros(sparse.dim if sparse is not None else 0)
    adam = _Adam(opts.learning_rate)
    for t in range(1, opts.epochs + 1):
        z = dense @ w + b[0]
        if sparse is not None:
            z = z + sparse.matvec(h)
        residual = 1.0 / (1.0 + np.exp(-z)) - target
        w = adam.step("w", w, dense.T @ residual / n + opts.l2 * w, t)
        b = adam.step("b", b, np.array([residual.mean()]), t)
        if sparse is not None:
            h = adam.step("h", h, sparse.rmatvec(residual) / n + opts.l2 * h, t)
    return LinearModel(dense=w, bias=float(b[0]), hashed=h)
