"""Text helpers of the generator: readable ESCO labels for titles, and free text as people type it."""

from __future__ import annotations

import numpy as np


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


_STOP_END = {"of", "the", "on", "for", "in", "and", "to", "with", "a", "an", "by", "from", "at", "or"}


def skill_title_label(label: str, alt_labels: str) -> str:
    """A readable preferred label of an ESCO skill for titles, from the run of labels ESCO ships.

    The package runs the labels together (``inspect tax returns investigate tax returns check tax returns``);
    the preferred label ends where the next label starts. Rules, first match wins: (a) a new verb precedes the
    same object (``monitor X supervise X``; longest such prefix); (b) the first word repeats within five words
    (``security regulations security norms``); (c) the same object follows two words later (``prepare
    financial statements draw up financial statements``); (d) the last two words recur shortly after; (e) the
    last word recurs shortly after; otherwise the first three words.
    """
    words = f"{label} {alt_labels}".split()
    if len(words) <= 2:
        return " ".join(words) or label
    lower = [w.lower() for w in words]
    n_max = min(8, len(words) - 1)
    for n in range(n_max, 1, -1):  # (a)
        if lower[n + 1 : 2 * n] == lower[1:n]:
            return " ".join(words[:n])
    for n in range(2, min(5, n_max) + 1):  # (b)
        if lower[n] == lower[0]:
            return " ".join(words[:n])
    for n in range(2, n_max + 1):  # (c)
        if lower[n + 2 : 2 * n + 1] == lower[1:n]:
            return " ".join(words[:n])
    for n in range(2, n_max + 1):  # (d)
        tail = lower[n - 2 : n]
        following = lower[n : n + 10]
        if any(following[i : i + 2] == tail for i in range(len(following) - 1)):
            return " ".join(words[:n])
    for n in range(2, min(6, n_max) + 1):  # (e)
        if lower[n - 1] not in _STOP_END and lower[n - 1] in lower[n : n + 7]:
            return " ".join(words[:n])
    return " ".join(words[:3])


def is_clean_title_label(text: str) -> bool:
    words = text.split()
    return 2 <= len(words) <= 6 and words[-1].lower() not in _STOP_END and len(text) <= 60


def split_occupation_alt_labels(alt_labels: str, head_words: frozenset[str]) -> list[str]:
    """Alternative labels of an occupation: the run is cut after each word ending an ESCO occupation label."""
    labels: list[str] = []
    current: list[str] = []
    words = alt_labels.split()
    for i, word in enumerate(words):
        current.append(word)
        following = words[i + 1].lower() if i + 1 < len(words) else ""
        # "head of department": a head word followed by a preposition does not end the label.
        ends = word.lower() in head_words and word.lower() not in _STOP_END and following not in _STOP_END
        if ends and len(current) <= 6:
            if current[0].lower() not in _STOP_END:
                labels.append(" ".join(current))
            current = []
        elif len(current) > 6:
            current = []
    return labels


_QWERTY_NEIGHBOURS = {
    "a": "qsz",
    "e": "rzd",
    "i": "uo",
    "o": "ip",
    "r": "et",
    "t": "ry",
    "n": "bm",
    "s": "ad",
    "c": "xv",
    "l": "km",
    "u": "yi",
    "m": "n,",
}


def typo_variant(
    rng: np.random.Generator,
    text: str,
    qualifiers: bool = True,
    qualifier_templates: tuple[str, str, str] | None = None,
) -> str:
    """Free text as people type it: a typo (swap, drop, double or slip a letter) and, for job titles
    (``qualifiers``), sometimes a qualifier ("senior …", "… (part time)", "assistant …", capitals);
    ``qualifier_templates`` words the three qualifiers in another language ("{} confirmé", …)."""
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) >= 4:
        i = letters[int(rng.integers(1, len(letters) - 1))]
        kind = int(rng.integers(0, 4))
        if kind == 0 and i + 1 < len(text) and text[i + 1].isalpha():
            text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        elif kind == 1:
            text = text[:i] + text[i + 1 :]
        elif kind == 2:
            text = text[:i] + text[i] + text[i:]
        else:
            options = _QWERTY_NEIGHBOURS.get(text[i].lower(), "")
            if options:
                text = text[:i] + options[int(rng.integers(0, len(options)))] + text[i + 1 :]
    qualifier = int(rng.integers(0, 8)) if qualifiers else -1
    if qualifier_templates is not None and 0 <= qualifier <= 2:
        text = qualifier_templates[qualifier].format(text)
    elif qualifier == 0:
        text = "senior " + text
    elif qualifier == 1:
        text = text + " (part time)"
    elif qualifier == 2:
        text = "assistant " + text
    elif qualifier == 3:
        text = text.upper() if len(text) < 30 else text
    return text
