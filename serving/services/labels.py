"""What holders and advisers read for an ESCO concept: its French preferred label where ESCO has one, else the
English one (``features.esco_fr``). The stored data keeps URIs; only what is shown is translated, in one place."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from features.esco import load_taxonomy
from features.esco_fr import load_french_labels

LabelKind = Literal["skill", "occupation"]


@lru_cache(maxsize=2)
def labels(kind: LabelKind) -> dict[str, str]:
    """Every concept of ``kind`` → its French preferred label, the English one else."""
    taxonomy = load_taxonomy()
    frame = taxonomy.skills if kind == "skill" else taxonomy.occupations
    out = dict(zip(frame.index.astype(str), frame["label"].astype(str), strict=True))
    out.update(load_french_labels(kind).preferred)
    return out


def label_of(uri: str, kind: LabelKind, default: str | None = None) -> str:
    return labels(kind).get(uri, default or uri)
