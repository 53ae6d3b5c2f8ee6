"""Model-free text features: signed hashed word n-grams (the "hashing trick").

Needs nothing but the standard library and numpy, so it works where onnxruntime is not
installed: the fallback featurizer of the learned scorer and of the similarity scorer.
Hashes are CRC32 (stable across processes and machines, unlike ``hash()``).
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_TOKEN = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")

DEFAULT_DIM = 1 << 14


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Feature indices (unique, in [0, dim)) and their values; L2 norm 1 unless empty."""

    indices: npt.NDArray[np.int64]
    values: npt.NDArray[np.float32]

    def dot(self, dense: npt.NDArray[np.float32]) -> float:
        return float(np.dot(dense[self.indices], self.values))


def tokens(prompt: str) -> list[str]:
    return _TOKEN.findall(prompt.lower())


_MASK = np.uint64(0xFFFFFFFF)
_MIX = np.uint64(0x9E3779B1)


def hashed_ngrams(prompt: str, dim: int = DEFAULT_DIM, max_n: int = 2) -> SparseVector:
    """Word 1..``max_n``-grams hashed into ``dim`` signed buckets, sublinear counts,
    L2-normalised. A word hashes by CRC32; an n-gram by mixing its words' hashes
    (vectorised, so a long prompt costs little more than tokenising it)."""
    words = tokens(prompt)
    if not words:
        return SparseVector(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
    unigrams = np.fromiter(
        (zlib.crc32(w.encode("utf-8")) for w in words), dtype=np.uint64, count=len(words)
    )
    grams = [unigrams]
    for n in range(2, max_n + 1):
        previous = grams[-1]
        if previous.size < 2:
            break
        grams.append(((previous[:-1] * _MIX) ^ unigrams[n - 1 :]) & _MASK)
    hashes = np.concatenate(grams)
    signs = np.where(hashes & np.uint64(0x80000000), 1.0, -1.0)
    buckets, inverse = np.unique((hashes % np.uint64(dim)).astype(np.int64), return_inverse=True)
    raw = np.bincount(inverse, weights=signs, minlength=buckets.size)
    vals = np.sign(raw) * np.log1p(np.abs(raw))
    norm = math.sqrt(float(np.dot(vals, vals)))
    if norm > 0:
        vals = vals / norm
    return SparseVector(buckets, vals.astype(np.float32))


def hashed_dense(prompt: str, dim: int = 512) -> npt.NDArray[np.float32]:
    """A small dense unit vector of hashed n-grams, for nearest-neighbour search when no
    embedding model is available (a crude lexical similarity)."""
    sparse = hashed_ngrams(prompt, dim)
    out = np.zeros(dim, dtype=np.float32)
    np.add.at(out, sparse.indices, sparse.values)
    return out
