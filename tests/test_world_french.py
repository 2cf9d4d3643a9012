"""The French world (``parcours world generate --lang fr``): French titles, descriptions and declared labels from
the French ESCO labels, the common trades in its occupations, the language in its manifest, determinism, and the
English world unchanged by the option. The tiny French world is generated once per module."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.esco_fr import load_french_labels
from parcours.cli import app
from training.datasets.world import generate_world
from training.datasets.world_esco import load_esco_context
from training.datasets.world_french import french_esco, gender_forms, occupation_title, of
from training.datasets.world_params import COMMON_TRADES

AS_OF = dt.date(2026, 11, 1)
SEED = 7
# sha256 of the English tiny world's files (seed 7, as of 2026-11-01) as generated before worlds had a language
# (experience and interactions redrawn since, when a holder came to enrol in a certification once): the --lang
# option must leave the English world byte for byte as it was.
ENGLISH_SHA256 = {
    "trainings.csv": "9bdc0b4d00592ca1be1a32260b14dba7e90c3e0cc46ccfddaa9eaded806eee16",
    "experience.csv": "ed866f6ef5dd89bcf4623363b77935721494f1c1e8df8f1fa7711b8d3925ecb6",
    "interactions.csv": "38b25ebdb95d25e93863396ed610b6f94a7d5e09d96bffbbbede56c35f588925",
}
FRENCH_WORDS = ("formation", "certificat", "titre professionnel", "compétences", "métier", "niveau")
ENGLISH_WORDS = ("certificate", "short course", "professional title", "training for", "become ")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world-fr") / "tiny"
    generate_world(out, scale="tiny", seed=SEED, as_of=AS_OF, lang="fr")
    return out


def read(world: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(world / name, dtype=str, keep_default_na=False)


def test_english_world_is_byte_identical_to_before_languages(tmp_path: Path) -> None:
    generate_world(tmp_path / "en", scale="tiny", seed=SEED, as_of=AS_OF)
    sums = {name: hashlib.sha256((tmp_path / "en" / name).read_bytes()).hexdigest() for name in ENGLISH_SHA256}
    assert sums == ENGLISH_SHA256
    assert "language" not in json.loads((tmp_path / "en" / "manifest.json").read_text(encoding="utf-8"))


def test_same_seed_gives_the_same_french_world(world: Path, tmp_path: Path) -> None:
    generate_world(tmp_path / "again", scale="tiny", seed=SEED, as_of=AS_OF, lang="fr")
    first = json.loads((world / "manifest.json").read_text(encoding="utf-8"))["files"]
    again = json.loads((tmp_path / "again" / "manifest.json").read_text(encoding="utf-8"))["files"]
    assert first == again


def test_manifest_records_the_language_and_the_common_trades(world: Path) -> None:
    manifest = json.loads((world / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["language"] == "fr"
    assert manifest["common_trades"] == [p.strip() for p in COMMON_TRADES]


def test_titles_and_descriptions_are_french(world: Path) -> None:
    trainings = read(world, "trainings.csv")
    text = (trainings["title"] + " " + trainings["description"]).str.lower()
    assert text.map(lambda t: any(w in t for w in FRENCH_WORDS)).mean() > 0.95
    assert not text.map(lambda t: any(w in t for w in ENGLISH_WORDS)).any()
    assert trainings["description"].str.contains(r"heures, (?:en présentiel|entièrement à distance|en formule mixte)",
                                                 regex=True).all()
    # Accents are written, and "de" is elided before a vowel.
    assert text.str.contains("é").mean() > 0.8
    assert not text.str.contains(r"\bde [aeiouéè]", regex=True).any()
    # The French anchor trainings stand in for the English ones.
    assert trainings["title"].str.contains("Paie et fiscalité").any()
    assert trainings["title"].str.contains("pierres chaudes").any()


def test_titles_name_the_french_occupation_or_skills(world: Path) -> None:
    trainings = read(world, "trainings.csv")
    esco = load_esco_context()
    fr = french_esco(esco)
    truth = read(world, "truth/trainings.csv").set_index("training_id")
    hits = 0
    for tid, title, skills in zip(trainings["training_id"], trainings["title"], trainings["skills"], strict=True):
        occ = int(esco.occ_index.get_loc(truth.at[tid, "focus_occupation"]))
        names = {occupation_title(fr.occ_label[occ]).lower()}
        names |= {fr.skill_title[int(esco.skill_index.get_loc(u))].lower() for u in skills.split("|") if u}
        hits += any(name in title.lower() for name in names)
    assert hits / len(trainings) > 0.9  # the rest: anchors, written by hand


def test_the_common_trades_are_in_the_catalogue(world: Path) -> None:
    esco = load_esco_context()
    targets = set("|".join(read(world, "trainings.csv")["target_occupations"]).split("|"))
    for prefix in COMMON_TRADES:
        assert str(esco.occ_uris[esco.occupation(prefix)]) in targets, prefix


def test_declared_experience_is_french(world: Path) -> None:
    experience = read(world, "experience.csv")
    labels = load_french_labels("occupation")
    forms = {f for label in labels.preferred.values() for f in gender_forms(label)}
    alternatives = {a for alts in labels.alternatives.values() for a in alts}
    jobs = experience.query("kind == 'job'")["label"].str.replace(r" \((?:temps partiel|à son compte)\)$", "",
                                                                 regex=True)
    assert jobs.isin(forms | alternatives).mean() > 0.6  # the rest: typed with a typo
    assert not jobs.isin({"boucher/bouchère"}).any()  # a holder declares one form, not the pair
    volunteering = experience.query("kind == 'volunteering'")["label"]
    assert volunteering.str.contains(" h par an").all()
    diplomas = experience.query("kind == 'diploma'")["label"]
    assert diplomas.str.contains(r"\(niveau \d\)", regex=True).all()
    assert not experience["label"].str.contains("part-time|self-employed|Certified in|a year", regex=True).any()


def test_french_labels_fall_back_to_english() -> None:
    esco = load_esco_context()
    fr = french_esco(esco)
    skills = load_french_labels("skill")
    missing = [i for i, uri in enumerate(esco.skill_uris) if str(uri) not in skills.preferred]
    assert missing, "the shipped French files lack some skills"
    assert all(fr.skill_title[i] == esco.skill_title[i] for i in missing[:50])
    assert not fr.skill_title_clean[missing].any()  # never in a French title
    baker = esco.occupation("baker ")
    assert fr.occ_label[baker] == "boulanger/boulangère"


@pytest.mark.parametrize(
    ("label", "forms", "title"),
    [
        ("boulanger/boulangère", ("boulanger", "boulangère"), "boulanger/boulangère"),
        ("comptable", ("comptable",), "comptable"),
        (
            "conducteur de machines de fabrication de produits textiles/ conductrice de machines de fabrication de "
            "produits textiles",
            (
                "conducteur de machines de fabrication de produits textiles",
                "conductrice de machines de fabrication de produits textiles",
            ),
            "conducteur de machines de fabrication de produits textiles",
        ),
    ],
)
def test_gender_forms_and_title(label: str, forms: tuple[str, ...], title: str) -> None:
    assert gender_forms(label) == forms
    assert occupation_title(label) == title


def test_de_is_elided_before_a_vowel() -> None:
    assert of("infirmier") == "d'infirmier"
    assert of("électricien") == "d'électricien"
    assert of("soudeur") == "de soudeur"


def test_cli_takes_the_language_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["world", "generate", "--out", str(tmp_path / "x"), "--lang", "de"])
    assert bad.exit_code == 2
    assert "--lang must be one of en, fr" in bad.output
    assert not (tmp_path / "x").exists()
    good = runner.invoke(
        app, ["world", "generate", "--out", str(tmp_path / "w"), "--seed", "1", "--as-of", "2026-11-01",
              "--lang", "fr"],
    )
    assert good.exit_code == 0, good.output
    assert json.loads((tmp_path / "w" / "manifest.json").read_text(encoding="utf-8"))["language"] == "fr"
