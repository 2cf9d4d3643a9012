"""Free text → ESCO: hand-written job titles and skills, with typos and nonsense.

The first use builds the embeddings of all ESCO concepts of a kind (cached on disk under data_dir/cache, keyed
by model and content), so the first run of this file takes minutes on a small CPU; later runs take seconds.
"""

from __future__ import annotations

import pytest

from features.esco import OCCUPATION_PREFIX, SKILL_PREFIX, load_taxonomy
from features.esco_matcher import LOW_CONFIDENCE_THRESHOLD, get_index, match, normalise_query

pytestmark = pytest.mark.slow


def _occupation(label: str) -> str:
    occupations = load_taxonomy().occupations
    return str(occupations.index[occupations["label"] == label][0])


# (free text a holder may write, the preferred label of the occupation it must map to)
JOB_TITLES = [
    ("accountant", "accountant"),
    ("Accountant", "accountant"),
    ("payroll clerk", "payroll clerk"),
    ("bookkeeper", "bookkeeper"),
    ("nurse", "specialist nurse"),
    ("bus driver", "bus driver"),
    ("software developer", "software developer"),
    ("web developer", "web developer"),
    ("chef", "chef"),
    ("electrician", "electrician"),
    ("truck driver", "moving truck driver"),
    ("lorry driver", "cargo vehicle driver"),
    ("chartered accountant", "accountant"),
    ("cashier (part-time)", "cashier"),
    ("plumber (self-employed)", "plumber"),
    ("primary school teacher", "primary school teacher"),
    ("hairdresser", "hairdresser"),
]

TYPOS = [
    ("acountant", "accountant"),
    ("payrol clerk", "payroll clerk"),
    ("hairdreser", "hairdresser"),
    ("electrican", "electrician"),
]

NONSENSE = ["xqzv kwpl", "asdfgh", "zzzz 1234", "lorem ipsum dolor"]


@pytest.mark.parametrize(("text", "label"), JOB_TITLES)
def test_job_titles_map_to_their_occupation(text, label):
    found = match(text, "occupation", k=5)
    assert found, text
    top = [m.label for m in found[:3]]
    assert label in top, (text, [(m.label, m.score) for m in found])
    assert found[0].uri.startswith(OCCUPATION_PREFIX)


@pytest.mark.parametrize(("text", "label"), TYPOS)
def test_typos_are_found_but_flagged(text, label):
    found = match(text, "occupation", k=3)
    assert label in [m.label for m in found], (text, [(m.label, m.score) for m in found])
    assert found[0].low_confidence


@pytest.mark.parametrize("text", NONSENSE)
def test_nonsense_is_low_confidence_never_an_error(text):
    found = match(text, "occupation", k=3)
    assert all(m.low_confidence for m in found)
    assert all(m.confidence < LOW_CONFIDENCE_THRESHOLD for m in found)


@pytest.mark.parametrize("text", ["", "   ", "(part-time)"])
def test_empty_text_gives_no_match(text):
    assert match(text, "occupation", k=3) == []


def test_exact_label_is_certain():
    found = match("accountant", "occupation", k=1)[0]
    assert found.uri == _occupation("accountant")
    assert found.confidence == 1.0 and not found.low_confidence


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("payroll", "payroll"),
        ("tax law", "tax"),
        ("Python programming", "Python"),
        ("drive a forklift", "forklift"),
    ],
)
def test_skills_are_found(text, needle):
    found = match(text, "skill", k=5)
    assert found and found[0].uri.startswith(SKILL_PREFIX)
    assert any(needle.lower() in m.label.lower() for m in found[:3]), [(m.label, m.score) for m in found]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        match("accountant", "training", k=3)  # type: ignore[arg-type]


def test_query_normalisation():
    assert normalise_query("  cashier   (part-time) ") == "cashier"
    assert normalise_query("Youth sports coach, about 200 h a year") == "Youth sports coach"


def test_index_covers_every_concept():
    index = get_index("occupation")
    assert len(index) == len(load_taxonomy().occupations) == index.index.ntotal


def _typo(text: str, n: int) -> str:
    """A deterministic misspelling: drop the letter at position n (mod length)."""
    i = n % len(text)
    return text[:i] + text[i + 1 :]


@pytest.mark.parametrize("kind", ["skill", "occupation"])
def test_batched_lexical_hits_are_those_of_one_by_one(kind):
    """The score-matrix path of ``match_many`` returns the hits of ``process.extract``, ties in the same order."""
    index = get_index(kind)
    labels = index.lexicon[::997][:60]
    queries = [q for n, label in enumerate(labels) for q in (label, _typo(label, n), label.split(" ")[0])]
    queries += ["manager", "teacher", "clerk", "xqzv kwpl"]  # short words: many equal ratios
    one_by_one = [index._lexical_hits(q, 10) for q in queries]
    assert index._lexical_hits_many(queries, 10, block=7) == one_by_one
    assert any(len({r for r, _ in hits}) < len(hits) for hits in one_by_one)  # the case has ties


@pytest.mark.parametrize("kind", ["skill", "occupation"])
def test_match_many_is_match_one_by_one(kind):
    texts = [t for t, _ in JOB_TITLES + TYPOS] + NONSENSE + ["", "payroll", "tax law", "drive a forklift"]
    index = get_index(kind)
    for k in (1, 3):
        assert index.match_many(texts, k) == [index.match(t, k) for t in texts]
