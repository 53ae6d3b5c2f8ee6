"""A disk cache of prompt embeddings, outside the repository.

Embedding 10k prompts with the int8 MiniLM takes minutes on one core; training, the
cross-validation and evaluation reuse the vectors. Keyed by a hash of the text (prompts
are not written to the cache), one ``.npz`` per embedding model under
``$HYBRIDROUTE_CACHE`` or ``~/.cache/hybridroute``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hybridroute_quality.progress import progress

FloatArray = npt.NDArray[np.float32]


def cache_dir() -> Path:
    root = os.environ.get("HYBRIDROUTE_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "hybridroute"


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def cached_embeddings(
    texts: Sequence[str],
    embed: Callable[[str], FloatArray],
    model_id: str,
    *,
    directory: Path | None = None,
    show_progress: bool = True,
) -> FloatArray:
    """The embedding of each text, computing (and saving) only those not cached yet."""
    folder = directory or cache_dir()
    path = folder / f"embeddings-{model_id}.npz"
    known: dict[str, FloatArray] = {}
    if path.is_file():
        with np.load(path) as stored:
            keys = stored["keys"]
            vectors = stored["vectors"]
            known = {str(k): vectors[i] for i, k in enumerate(keys)}
    keys_needed = [_key(t) for t in texts]
    missing = [i for i, k in enumerate(keys_needed) if k not in known]
    if missing:
        for i in progress(missing, desc="embedding", enabled=show_progress):
            known[keys_needed[i]] = embed(texts[i])
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        all_keys = sorted(known)
        np.savez(
            tmp,
            keys=np.asarray(all_keys),
            vectors=np.stack([known[k] for k in all_keys]).astype(np.float32),
        )
        tmp.replace(path)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([known[k] for k in keys_needed]).astype(np.float32)
