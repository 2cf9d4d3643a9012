"""The synthetic world generator on the tiny scale: determinism, import format, rights rules, dates, sessions,
ESCO grounding, truth kept apart, anchors. The tiny world is generated once per module."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.esco import load_taxonomy
from ingest.world_format import COLUMNS, FILE_ORDER
from parcours.cli import app
from parcours.domain import rules
from parcours.domain.regions import REGION_NAMES
from serving.services.users import read_users_csv, validate_user
from training.datasets.world import generate_world
from training.datasets.world_interactions import best_per_certification
from training.datasets.world_ledger import cec_credit_cents, cpf_credit_cents, legal_annual_hours
from training.datasets.world_params import SCALES
from training.datasets.world_text import skill_title_label
from training.datasets.world_time import months_before
from training.datasets.world_utility import truth_utility

AS_OF = dt.date(2025, 11, 1)
SEED = 7
INSEE_REGIONS = set(REGION_NAMES)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|\+00:00)$")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "tiny"
    generate_world(out, scale="tiny", seed=SEED, as_of=AS_OF)
    return out


def read(world: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(world / name, dtype=str, keep_default_na=False)


def all_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- Determinism --------------------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(world: Path, tmp_path: Path) -> None:
    generate_world(tmp_path / "again", scale="tiny", seed=SEED, as_of=AS_OF)
    generate_world(tmp_path / "other", scale="tiny", seed=SEED + 1, as_of=AS_OF)
    first, again, other = all_files(world), all_files(tmp_path / "again"), all_files(tmp_path / "other")
    assert "truth/holder_skills.csv" in first and "manifest.json" in first
    assert first == again
    for name in FILE_ORDER:
        assert first[name] != other[name], name


def test_cli_generates_with_as_of_and_rejects_a_bad_date(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "world",
            "generate",
            "--scale",
            "tiny",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "w"),
            "--as-of",
            "2025-06-01",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert (manifest["as_of"], manifest["seed"], manifest["scale"]) == ("2025-06-01", 3, "tiny")
    bad = runner.invoke(app, ["world", "generate", "--out", str(tmp_path / "x"), "--as-of", "1 June"])
    assert bad.exit_code == 2
    assert "--as-of" in bad.output


# --- Import format ------------------------------------------------------------------------------------------


def test_import_files_have_the_contract_columns_and_formats(world: Path) -> None:
    for name, columns in COLUMNS.items():
        with (world / name).open(encoding="utf-8", newline="") as handle:
            assert next(csv.reader(handle)) == list(columns), name
    trainings, holders = read(world, "trainings.csv"), read(world, "holders.csv")
    experience, interactions = read(world, "experience.csv"), read(world, "interactions.csv")
    assert len(trainings) == SCALES["tiny"].n_trainings and len(holders) == SCALES["tiny"].n_holders
    assert trainings["training_id"].is_unique and holders["holder_id"].is_unique
    assert trainings["modality"].isin(["onsite", "remote", "hybrid"]).all()
    assert trainings["certification_code"].str.fullmatch(r"RNCP\d{5}|RS\d{4}").all()
    assert (
        trainings["price_cents"].str.fullmatch(r"\d+").all()
        and trainings["hours"].str.fullmatch(r"[1-9]\d*").all()
    )
    assert trainings["level"].isin(["", "3", "4", "5", "6", "7", "8"]).all()
    assert (trainings["level"] == "").any() and (trainings["level"] != "").any()
    assert set(trainings["region_code"]) <= INSEE_REGIONS and set(holders["region_code"]) <= INSEE_REGIONS
    assert holders["employment_status"].isin(["employee", "job_seeker", "self_employed"]).all()
    assert holders["qualification_level"].isin(["", "3", "4", "5", "6", "7", "8"]).all()
    assert holders["preferred_modality"].isin(["", "onsite", "remote", "hybrid"]).all()
    assert (
        experience["kind"]
        .isin(["job", "diploma", "certification", "training", "volunteering", "skill"])
        .all()
    )
    assert set(experience["kind"]) == {"job", "diploma", "certification", "training", "volunteering", "skill"}
    assert interactions["event"].isin(["view", "enrol", "complete", "cancel"]).all()
    assert interactions["timestamp"].str.match(ISO_UTC).all()
    for column in ("start_date", "end_date"):
        values = experience[column][experience[column] != ""]
        assert values.str.match(ISO_DATE).all()
    assert all(ISO_DATE.match(d) for dates in trainings["start_dates"] for d in dates.split("|") if d)
    # Sessions are listed in order and the lists are |-separated URIs.
    for dates in trainings["start_dates"]:
        listed = dates.split("|")
        assert listed == sorted(listed)
    assert trainings["skills"].str.split("|").map(len).min() >= 2


def test_prices_look_like_cpf_prices(world: Path) -> None:
    euros = read(world, "trainings.csv")["price_cents"].astype(int) / 100
    assert 900 <= euros.median() <= 2_500
    assert euros.max() <= 10_000 and euros.min() >= 150
    assert (euros > 5_000).any()


def test_job_labels_vary_and_some_uris_are_left_for_the_profile_builder(world: Path) -> None:
    jobs = read(world, "experience.csv").query("kind == 'job'")
    taxonomy = load_taxonomy()
    preferred = set(taxonomy.occupations["label"])
    with_uri = jobs["esco_uri"] != ""
    assert 0.3 < with_uri.mean() < 0.9
    assert jobs["label"].isin(preferred).any() and (~jobs["label"].isin(preferred) & ~with_uri).any()


# --- Rights -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "hours", "status", "low_qualification", "disability", "expected"),
    [
        (2023, 1607, "employee", False, False, (50_000, 500_000)),
        (2023, 804, "employee", False, False, (50_000, 500_000)),  # at least half the legal 1,607 h
        (2023, 803, "employee", False, False, (24_985, 500_000)),  # prorated, rounded up to the cent
        (2023, 482, "employee", False, False, (14_997, 500_000)),
        (2023, 1607, "employee", True, False, (80_000, 800_000)),
        (2023, 402, "employee", True, False, (20_013, 800_000)),
        (2023, 1607, "employee", False, True, (80_000, 800_000)),  # a recognised disability
        (2023, 1607, "self_employed", True, False, (50_000, 500_000)),
        (2023, 300, "self_employed", False, False, (50_000, 500_000)),  # the self-employed are not prorated
        (2023, 1607, "self_employed", False, True, (80_000, 800_000)),
        (2023, 0, "employee", False, False, (0, 500_000)),
        (2017, 1607, "employee", False, False, (36_000, 500_000)),  # 24 h × 15 €
        (2017, 1607, "employee", True, False, (72_000, 800_000)),  # 48 h × 15 €
        (2017, 1607, "employee", False, True, (72_000, 800_000)),
        (2017, 482, "employee", False, False, (10_798, 500_000)),
        (2017, 300, "self_employed", False, False, (36_000, 500_000)),
    ],
)
def test_cpf_credit_follows_the_rules(
    year: int, hours: int, status: str, low_qualification: bool, disability: bool, expected: tuple[int, int]
) -> None:
    credit = cpf_credit_cents(
        year, status=status, worked_hours=hours, low_qualification=low_qualification, disability=disability
    )
    assert credit == expected


@pytest.mark.parametrize("year", [2019, 2023, 2025])
@pytest.mark.parametrize("status", ["employee", "self_employed"])
def test_the_generator_credits_with_the_domain_rule_from_2019(year: int, status: str) -> None:
    for hours in (0, 1, 400, 803, 804, 1607):
        for low_qualification in (False, True):
            for disability in (False, True):
                flags = {"low_qualification": low_qualification, "disability": disability}
                credit, ceiling = cpf_credit_cents(year, status=status, worked_hours=hours, **flags)
                assert credit == rules.annual_credit_cents(year, status=status, worked_hours=hours, **flags)
                assert ceiling == rules.credit_rate(year, status=status, **flags).ceiling_cents
    # CEC: one eligible activity, the domain's amount; activity years before its tables take the rule of 2019.
    one_activity = rules.cec_credit_cents(year, eligible_activities=1, cec_balance_cents=0)
    assert cec_credit_cents(year) == cec_credit_cents(2017) == (one_activity, 72_000) == (24_000, 72_000)


def test_balances_are_the_ledger_within_caps_and_follow_the_rules(world: Path) -> None:
    holders = read(world, "holders.csv").set_index("holder_id")
    ledger = read(world, "truth/ledger.csv")
    for column in ("amount_cents", "balance_after_cents", "ceiling_cents"):
        ledger[column] = ledger[column].astype(int)
    cpf, cec = holders["cpf_balance_cents"].astype(int), holders["cec_balance_cents"].astype(int)
    assert (cpf >= 0).all() and (cpf <= 800_000).all() and (cec >= 0).all() and (cec <= 72_000).all()
    assert (cpf > 0).mean() > 0.5 and (cec > 0).any()
    sums = ledger.pivot_table(index="holder_id", columns="account", values="amount_cents", aggfunc="sum")
    sums = sums.reindex(holders.index).fillna(0).astype(int)
    assert (sums["cpf"] == cpf).all() and (sums["cec"] == cec).all()
    assert (sums[["cpf_reserved", "cec_reserved"]] >= 0).all().all()
    assert (ledger["balance_after_cents"] >= 0).all() and (ledger["amount_cents"] != 0).all()
    assert set(ledger["kind"]) >= {"cpf_credit", "cec_credit", "training", "reservation", "payment",
                                   "cancellation_refund"}
    # Replay each holder's movements in order: balances after match, available + reserved rights stay within
    # the ceiling of each credit, and each CPF credit is the rule's amount for the year or what is left below
    # its ceiling (nothing when the account is full).
    years = read(world, "truth/activity_years.csv").groupby("holder_id", sort=False)
    for holder_id, moves in ledger.groupby("holder_id", sort=False):
        state = dict.fromkeys(("cpf", "cec", "cpf_reserved", "cec_reserved"), 0)
        posted: dict[str, tuple[int, int]] = {}  # year → (credit applied, rights held before)
        for move in moves.itertuples():
            held = state[move.account] + state.get(f"{move.account}_reserved", 0)
            state[move.account] += move.amount_cents
            assert state[move.account] == move.balance_after_cents
            if move.kind in ("cpf_credit", "cec_credit"):
                assert held + move.amount_cents <= move.ceiling_cents
                if move.kind == "cpf_credit":
                    posted[move.reference[-4:]] = (move.amount_cents, held)
        assert state["cec"] + state["cec_reserved"] <= 72_000
        if holder_id not in years.groups:
            continue
        for row in years.get_group(holder_id).itertuples():
            rule, ceiling = cpf_credit_cents(
                int(row.year),
                status=row.status,
                worked_hours=int(row.worked_hours),
                low_qualification=row.without_level3 == "True",
                disability=row.disability == "True",
            )
            assert (rule, ceiling) == (int(row.credit_cents), int(row.ceiling_cents))
            if row.year in posted:
                applied, held = posted[row.year]
                assert applied == min(rule, ceiling - held)
            else:
                cpf_rights = moves["account"].isin(["cpf", "cpf_reserved"])
                earlier = moves[(moves["date"] < row.posted_date) & cpf_rights]
                held = int(earlier["amount_cents"].sum())
                assert rule == 0 or held >= ceiling
    # Someone worked under half time in a year; a few holders have a recognised disability.
    activity = read(world, "truth/activity_years.csv")
    assert (activity["time_fraction"].astype(float) < 0.5).any()
    assert 0 < activity.groupby("holder_id")["disability"].first().eq("True").mean() < 0.15


def test_time_worked_is_recomputed_from_the_dated_jobs(world: Path) -> None:
    jobs = read(world, "truth/jobs.csv")
    years = read(world, "truth/activity_years.csv").head(300)
    for row in years.itertuples():
        y0, y1 = dt.date(int(row.year), 1, 1), dt.date(int(row.year) + 1, 1, 1)
        total = 0.0
        for job in jobs[jobs["holder_id"] == row.holder_id].itertuples():
            start, end = dt.date.fromisoformat(job.start_date), dt.date.fromisoformat(job.end_date)
            days = max(0, (min(end + dt.timedelta(days=1), y1) - max(start, y0)).days)
            total += days / (y1 - y0).days * float(job.time_fraction)
        assert math.isclose(min(total, 1.0), float(row.time_fraction), abs_tol=1e-4)
        assert int(row.worked_hours) == round(float(row.time_fraction) * legal_annual_hours(int(row.year)))


# --- Dates and sessions -------------------------------------------------------------------------------------


def test_experience_dates_are_ordered(world: Path) -> None:
    experience = read(world, "experience.csv")
    closed = experience[experience["end_date"] != ""]
    assert (closed["start_date"] <= closed["end_date"]).all()
    assert (experience["start_date"] < AS_OF.isoformat()).all()
    # The current job is open-ended for employees.
    holders = read(world, "holders.csv").set_index("holder_id")
    open_jobs = experience[(experience["kind"] == "job") & (experience["end_date"] == "")]
    assert (holders.loc[open_jobs["holder_id"], "employment_status"] != "job_seeker").all()


def test_interactions_are_in_the_window_and_ordered_per_pair(world: Path) -> None:
    interactions = read(world, "interactions.csv")
    ts = pd.to_datetime(interactions["timestamp"], utc=True)
    start = pd.Timestamp(months_before(AS_OF, 24), tz="UTC")
    assert (ts >= start).all() and (ts < pd.Timestamp(AS_OF, tz="UTC")).all()
    assert ts.is_monotonic_increasing
    interactions["ts"] = ts
    wide = interactions.pivot_table(
        index=["holder_id", "training_id"], columns="event", values="ts", aggfunc="min"
    )
    counts = interactions.groupby(["holder_id", "training_id", "event"]).size()
    assert (counts == 1).all()
    enrolled = wide[wide["enrol"].notna()]
    assert (enrolled["view"] < enrolled["enrol"]).all()
    done = wide[wide["complete"].notna()]
    assert (done["enrol"] < done["complete"]).all()
    cancelled = wide[wide["cancel"].notna()]
    assert (cancelled["enrol"] < cancelled["cancel"]).all() and cancelled["complete"].isna().all()
    assert wide[wide["enrol"].isna()][["complete", "cancel"]].isna().all().all()
    events = interactions["event"].value_counts()
    assert (
        events["view"] > 1_000 and events["enrol"] > 50 and events["complete"] > 20 and events["cancel"] > 0
    )


def test_enrolments_are_in_sessions_that_exist(world: Path) -> None:
    trainings = read(world, "trainings.csv").set_index("training_id")
    interactions = read(world, "interactions.csv")
    enrolments = read(world, "truth/enrolments.csv")
    enrol_events = interactions[interactions["event"] == "enrol"]
    assert len(enrolments) == len(enrol_events)
    for row in enrolments.itertuples():
        sessions = trainings.at[row.training_id, "start_dates"].split("|")
        assert row.session_start in sessions
        enrolled = dt.date.fromisoformat(row.enrolled_at[:10])
        assert dt.date.fromisoformat(row.session_start) >= enrolled + dt.timedelta(days=11)
    # Every enrolment has a later session listed for its training.
    for row in enrol_events.itertuples():
        assert any(d > row.timestamp[:10] for d in trainings.at[row.training_id, "start_dates"].split("|"))


def test_a_holder_enrols_in_a_certification_once(world: Path) -> None:
    code = read(world, "trainings.csv").set_index("training_id")["certification_code"]
    enrolments = read(world, "truth/enrolments.csv")
    certifications = enrolments["training_id"].map(code)
    assert certifications.notna().all()
    assert not pd.DataFrame({"h": enrolments["holder_id"], "c": certifications}).duplicated().any()
    # Several offerings of one certification are still viewed by one holder: the rule is not vacuous here.
    views = read(world, "interactions.csv").query("event == 'view'")
    viewed = pd.DataFrame({"h": views["holder_id"], "c": views["training_id"].map(code)}).drop_duplicates()
    assert len(viewed) < len(views.drop_duplicates(["holder_id", "training_id"]))


@pytest.mark.parametrize(
    ("holders", "certifications", "decision", "kept"),
    [
        ([], [], [], []),
        ([0, 0], ["A", "A"], [0.3, 0.5], [1]),  # the best of one certification, not the first listed
        ([0, 0], ["A", "B"], [0.3, 0.5], [0, 1]),
        ([0, 1], ["A", "A"], [0.5, 0.3], [0, 1]),  # two holders may take the same certification
        ([0, 0, 0, 1], ["A", "B", "A", "B"], [0.1, 0.2, 0.9, 0.0], [1, 2, 3]),
        ([0, 0], ["A", "A"], [0.4, 0.4], [0]),  # a tie keeps the earlier view
    ],
)
def test_best_per_certification_keeps_one_enrolment_per_holder_and_certification(
    holders: list[int], certifications: list[str], decision: list[float], kept: list[int]
) -> None:
    idx = np.arange(len(holders), dtype=np.int64)
    got = best_per_certification(idx, np.array(holders, dtype=np.int64), idx,  # view i is of training i
                                 np.array(certifications, dtype=object), np.array(decision))
    assert got.tolist() == kept


def test_most_trainings_have_a_future_session_and_some_expired(world: Path) -> None:
    trainings = read(world, "trainings.csv")
    last = trainings["start_dates"].str.split("|").map(lambda d: d[-1])
    first = trainings["start_dates"].str.split("|").map(lambda d: d[0])
    future = last >= AS_OF.isoformat()
    assert 0.7 < future.mean() < 0.97
    assert (first < months_before(AS_OF, 18).isoformat()).mean() > 0.5
    assert (last <= (AS_OF + dt.timedelta(days=366)).isoformat()).all()


# --- ESCO grounding and truth -------------------------------------------------------------------------------


def test_every_uri_exists_in_esco(world: Path) -> None:
    taxonomy = load_taxonomy()
    skills, occupations = set(taxonomy.skills.index), set(taxonomy.occupations.index)
    trainings = read(world, "trainings.csv")
    for column, known in (("skills", skills), ("prerequisites", skills), ("target_occupations", occupations)):
        uris = {u for value in trainings[column] for u in value.split("|") if u}
        assert uris and uris <= known, column
    targets = set(read(world, "holders.csv")["target_occupation"]) - {""}
    assert targets and targets <= occupations
    assert not targets & set(taxonomy.isco_groups.index)
    used = set(read(world, "experience.csv")["esco_uri"]) - {""}
    assert used <= skills | occupations and used & skills and used & occupations
    assert set(read(world, "truth/holder_skills.csv")["skill_uri"]) <= skills
    assert set(read(world, "truth/holder_goal_skills.csv")["skill_uri"]) <= skills


def test_truth_is_written_apart_and_does_not_leak_into_import_files(world: Path) -> None:
    for name in ("holder_skills.csv", "holder_preferences.csv", "providers.csv"):
        assert (world / "truth" / name).stat().st_size > 100
    assert list(read(world, "truth/holder_skills.csv").columns) == ["holder_id", "skill_uri", "proficiency"]
    quality = read(world, "truth/providers.csv")
    assert quality["quality"].astype(float).between(0, 1).all()
    for name in (*FILE_ORDER, "demo_users.csv"):
        header = (world / name).read_text(encoding="utf-8").splitlines()[0]
        for secret in (
            "proficiency",
            "quality",
            "utility",
            "sensitivity",
            "mobility",
            "attractiveness",
            "latent",
        ):
            assert secret not in header, (name, secret)
    # Latent targets stay latent: holders with goal_mode latent_target declare no target.
    prefs = read(world, "truth/holder_preferences.csv").set_index("holder_id")
    holders = read(world, "holders.csv").set_index("holder_id")
    latent = prefs.index[prefs["goal_mode"] == "latent_target"]
    assert len(latent) and (holders.loc[latent, "target_occupation"] == "").all()


def test_truth_utility_reproduces_the_simulation_and_explains_enrolments(world: Path) -> None:
    viewed = read(world, "truth/viewed_utility.csv")
    sample = viewed.iloc[:: max(1, len(viewed) // 200)]
    holders, trainings = (
        sorted(set(sample["holder_id"])),
        sorted(set(read(world, "trainings.csv")["training_id"])),
    )
    utility = truth_utility(world, holders, trainings)
    assert utility.shape == (len(holders), len(trainings))
    h_pos = {h: i for i, h in enumerate(holders)}
    t_pos = {t: i for i, t in enumerate(trainings)}
    recomputed = [
        utility[h_pos[h], t_pos[t]] for h, t in zip(sample["holder_id"], sample["training_id"], strict=True)
    ]
    np.testing.assert_allclose(recomputed, sample["utility"].astype(float), atol=1e-8)
    # Enrolled trainings rank high in the holder's noise-free utility.
    enrolled = read(world, "truth/enrolments.csv")
    enrolled = enrolled[enrolled["holder_id"].isin(holders)]
    percentiles = [
        (utility[h_pos[h]] < utility[h_pos[h], t_pos[t]]).mean()
        for h, t in zip(enrolled["holder_id"], enrolled["training_id"], strict=True)
    ]
    assert np.mean(percentiles) > 0.85


def test_anchor_clusters_are_present(world: Path) -> None:
    trainings = read(world, "trainings.csv")
    taxonomy = load_taxonomy()
    titles = trainings["title"].str.lower()
    for words in (("payroll", "tax"), ("stone cutting",), ("stonemason",), ("hot-stone massage",)):
        assert titles.map(lambda t, w=words: all(x in t for x in w)).any(), words

    def occupation(prefix: str) -> str:
        return str(taxonomy.occupations.index[taxonomy.occupations["text"].str.startswith(prefix)][0])

    for prefix in ("accountant ", "stonemason ", "massage therapist "):
        uri = occupation(prefix)
        assert trainings["target_occupations"].str.contains(uri, regex=False).sum() >= 3, prefix
    payroll = trainings[titles.str.contains("payroll")]
    labels = {taxonomy.skill_label(u) for value in payroll["skills"] for u in value.split("|")}
    assert any("payroll" in label for label in labels)


# --- Demo users and manifest --------------------------------------------------------------------------------


def test_demo_users_cover_every_role(world: Path) -> None:
    users = read(world, "demo_users.csv")
    assert list(users.columns) == ["username", "password", "role", "holder_id", "provider_id", "funder_id"]
    assert set(users["role"]) == {"admin", "adviser", "analyst", "provider", "funder", "holder"}
    assert (users["password"] == "demo-" + users["username"]).all() and (
        users["password"].str.len() >= 8
    ).all()
    holders = users[users["role"] == "holder"]
    assert list(holders["holder_id"]) == ["H000001", "H000002", "H000003"]
    provider = users.loc[users["role"] == "provider", "provider_id"].item()
    trainings = read(world, "trainings.csv").set_index("training_id")
    enrols = read(world, "interactions.csv").query("event == 'enrol' and holder_id == 'H000001'")
    assert len(enrols), "the first demo holder has an enrolment"
    counts = trainings.loc[enrols["training_id"], "provider_id"].value_counts()
    assert provider == sorted(counts[counts == counts.max()].index)[0]  # most frequent, ties by id
    assert users.loc[users["role"] == "funder", "funder_id"].item()
    # The file is what `parcours user import` reads, and every row passes its validation.
    specs = read_users_csv(world / "demo_users.csv")
    assert len(specs) == len(users)
    assert [p for row, spec in enumerate(specs, 2) for p in validate_user(spec, source="demo", row=row)] == []


def test_manifest_records_inputs_and_counts(world: Path) -> None:
    manifest = json.loads((world / "manifest.json").read_text())
    assert (manifest["as_of"], manifest["seed"], manifest["scale"]) == (AS_OF.isoformat(), SEED, "tiny")
    assert manifest["generator_version"]
    assert manifest["counts"]["interactions"] == len(read(world, "interactions.csv"))
    assert manifest["counts"]["holders"] == len(read(world, "holders.csv"))
    assert (
        manifest["counts"]["events"]["enrol"] == (read(world, "interactions.csv")["event"] == "enrol").sum()
    )


def test_skill_title_label_recovers_preferred_labels() -> None:
    cases = [
        ("inspect", "tax returns investigate tax returns check tax returns", "inspect tax returns"),
        (
            "manage the general",
            "ledger managing the general ledger oversee the general ledger",
            "manage the general ledger",
        ),
        ("security regulations", "security norms security laws", "security regulations"),
        (
            "prepare financial statements",
            "draw up financial statements prepare financial statement",
            "prepare financial statements",
        ),
        (
            "perform rail track",
            "inspections implement railway track inspections",
            "perform rail track inspections",
        ),
        ("write", "", "write"),
    ]
    for label, alt, expected in cases:
        assert skill_title_label(label, alt) == expected
