"""How a declaration is read as ESCO: the concept its URI names, or the occupation or skills its free text
matches (through ``features.esco_matcher``), with how sure that reading is."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from features.esco import load_taxonomy
from features.profile.model import Declaration

SKILL_MATCHES_PER_TEXT = 3


class Matcher:
    """Text → ESCO with a per-text cache (bulk recomputes see the same job titles many times)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, int], list] = {}

    def top(self, text: str, kind: str, k: int) -> list:
        from features.esco_matcher import match

        key = (text.strip().lower(), kind, k)
        if key not in self._cache:
            self._cache[key] = match(text, kind, k)  # type: ignore[arg-type]
        return self._cache[key]

    def best(self, text: str, kind: str):  # type: ignore[no-untyped-def]
        found = self.top(text, kind, 1)
        return found[0] if found else None

    def prefetch(self, declarations: Iterable[Declaration]) -> None:
        """Match, in batches, every free text these declarations will need (same results as one by one)."""
        from features.esco_matcher import match_many

        wanted: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
        for d in declarations:
            if (d.esco_uri or "").strip():
                continue
            text = declaration_text(d)
            if d.kind in ("job", "volunteering", "diploma", "certification", "training"):
                wanted[("occupation", 1)][text.strip().lower()] = text
            if d.kind != "job":
                wanted[("skill", SKILL_MATCHES_PER_TEXT)][text.strip().lower()] = text
        for (kind, k), texts in wanted.items():
            todo = [(key, t) for key, t in texts.items() if (key, kind, k) not in self._cache]
            for start in range(0, len(todo), 1024):
                chunk = todo[start : start + 1024]
                for (key, _), found in zip(chunk, match_many([t for _, t in chunk], kind, k), strict=True):  # type: ignore[arg-type]
                    self._cache[(key, kind, k)] = found


def declaration_text(declaration: Declaration) -> str:
    """The text to map: for "Diploma — field" labels, the field after the dash."""
    label = declaration.label
    if declaration.kind == "diploma" and " — " in label:
        return label.split(" — ")[-1]
    return label


@dataclass(frozen=True)
class Resolved:
    """A declaration read as ESCO: the occupation whose skills it brings, or the skills it names."""

    occupation: str | None
    skills: tuple[tuple[str, float], ...]  # (skill URI, relative weight) when the declaration names skills
    uri: str | None
    uri_label: str | None
    confidence: float
    low_confidence: bool
    method: str


def resolve(declaration: Declaration, matcher: Matcher) -> Resolved:
    """What ``declaration`` means in ESCO: its URI when it gives one, otherwise its text matched."""
    taxonomy = load_taxonomy()
    uri = (declaration.esco_uri or "").strip()
    if uri and taxonomy.is_occupation(uri):
        return Resolved(uri, (), uri, taxonomy.occupation_label(uri), 1.0, False, "given")
    if uri and taxonomy.is_skill(uri):
        return Resolved(None, ((uri, 1.0),), uri, taxonomy.skill_label(uri), 1.0, False, "given")
    text = declaration_text(declaration)
    if declaration.kind in ("job", "volunteering", "diploma"):
        occupation = matcher.best(text, "occupation")
        if declaration.kind == "job" or occupation is None or not occupation.low_confidence:
            if occupation is None:
                return Resolved(None, (), None, None, 0.0, True, "none")
            return Resolved(
                occupation.uri,
                (),
                occupation.uri,
                occupation.label,
                occupation.confidence,
                occupation.low_confidence,
                occupation.method,
            )
    skills = matcher.top(text, "skill", SKILL_MATCHES_PER_TEXT)
    if declaration.kind in ("certification", "training"):
        occupation = matcher.best(text, "occupation")
        if occupation is not None and skills and occupation.score > skills[0].score + 0.05:
            return Resolved(
                occupation.uri,
                (),
                occupation.uri,
                occupation.label,
                occupation.confidence,
                occupation.low_confidence,
                occupation.method,
            )
    if not skills:
        return Resolved(None, (), None, None, 0.0, True, "none")
    best = skills[0]
    kept = tuple((m.uri, m.score / best.score) for m in skills if m.score >= best.score - 0.05)
    if declaration.kind == "skill":
        kept = kept[:1]
    return Resolved(None, kept, best.uri, best.label, best.confidence, best.low_confidence, best.method)
