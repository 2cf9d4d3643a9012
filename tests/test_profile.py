"""Skills profile from declared experience (purpose 9): hand-written cases, on SQLite and PostgreSQL.

Needs the derived occupation→skill table (features/esco_data/occupation_skills.csv.gz). Free-text cases use
the ESCO index (embeddings cached under data_dir/cache after the first run).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from features.esco import OCCUPATION_PREFIX, load_taxonomy
from features.profile.aggregate import profile_from_declarations
from features.profile.embedding import profile_embedding
from features.profile.gap import skill_gap
from features.profile.model import Declaration
from features.profile.recompute import recompute_profile, recompute_profiles
from features.profile.store import stored_profile
from features.profile.weights import (
    duration_factor,
    noisy_or,
    noisy_or_by_key,
    noisy_or_by_name,
    recency_factor,
)
from parcours.errors import Conflict, Forbidden, NotFound, ValidationFailed
from parcours.settings import Settings
from parcours.store.engine import session_scope
from parcours.store.models import (
    Consent,
    Experience,
    Holder,
    HolderProfile,
    HolderSkill,
    HolderSkillExclusion,
    Interaction,
    Provider,
    Training,
    User,
)
from serving.app import create_app
from serving.services.experience import (
    ExperienceInput,
    add_experience,
    authorise_holder_write,
    delete_experience,
    edit_experience,
    exclude_skill,
)
from serving.services.users import UserSpec, upsert_users

TODAY = dt.date(2026, 11, 1)
PASSWORD = "correct horse battery"


def occupation(label: str) -> str:
    occupations = load_taxonomy().occupations
    return str(occupations.index[occupations["label"] == label][0])


def skill(label: str) -> str:
    skills = load_taxonomy().skills
    return str(skills.index[skills["label"] == label][0])


def add_holder(session, holder_id: str) -> None:
    session.add(Holder(holder_id=holder_id, birth_year=1985, region_code="11", employment_status="employee"))
    session.flush()


def accountant_job(years: float = 6.0, label: str = "accountant") -> ExperienceInput:
    start = dt.date.today() - dt.timedelta(days=int(years * 365.25))
    return ExperienceInput(kind="job", label=label, start_date=start, end_date=None)


# --- Pure functions -----------------------------------------------------------------------------------------



NOISY_OR_CASES = [
    ([], 0.0),
    ([0.5], 0.5),
    ([0.5, 0.5], 0.75),
    ([1.0, 0.2], 1.0),
    ([0.2, 0.1, 0.5], 0.64),
    ([-0.3, 1.7], 1.0),  # weights are clamped to [0, 1]
]


@pytest.mark.parametrize(("weights", "expected"), NOISY_OR_CASES)
def test_noisy_or(weights, expected):
    assert noisy_or(weights) == pytest.approx(expected)


def test_noisy_or_by_key_gives_each_key_its_case():
    """The vectorised noisy-or (profiles, stored weights, training datasets) on every case at once, keys
    shuffled: each key gets exactly what the one-case call gives."""
    keys = np.array([k for k, (weights, _) in enumerate(NOISY_OR_CASES) for _ in weights])
    weights = np.array([w for weights, _ in NOISY_OR_CASES for w in weights])
    order = np.random.default_rng(0).permutation(len(keys))
    found, values = noisy_or_by_key(keys[order], weights[order])
    assert found.tolist() == sorted(set(keys.tolist()))
    for key, value in zip(found.tolist(), values.tolist(), strict=True):
        assert value == pytest.approx(NOISY_OR_CASES[key][1])
    found, values = noisy_or_by_key(keys, weights)
    assert values.tolist() == [noisy_or(NOISY_OR_CASES[k][0]) for k in found.tolist()]
    by_name = noisy_or_by_name(["b", "a", "b"], [0.5, 0.2, 0.5])
    assert list(by_name) == ["b", "a"] and by_name == pytest.approx({"b": 0.75, "a": 0.2})


def test_longer_and_more_recent_experience_weighs_more():
    start = dt.date(2020, 1, 1)
    assert duration_factor(start, dt.date(2026, 1, 1), TODAY) > duration_factor(
        start, dt.date(2021, 1, 1), TODAY
    )
    assert duration_factor(start, None, TODAY) == pytest.approx(
        1 - 2.71828 ** (-(TODAY - start).days / 365.25 / 2.5), rel=1e-3
    )
    assert recency_factor(None, TODAY) == 1.0
    assert recency_factor(dt.date(2025, 1, 1), TODAY) > recency_factor(dt.date(2010, 1, 1), TODAY) >= 0.6


def test_accountant_six_years_brings_accounting_and_tax_skills_with_provenance():
    declaration = Declaration(7, "job", "accountant", None, TODAY - dt.timedelta(days=6 * 365), None)
    profile = profile_from_declarations("H", [declaration], TODAY)
    labels = [s.label.lower() for s in profile.top(25)]
    assert any("account" in label for label in labels), labels
    assert any("tax" in label for label in labels), labels
    mapping = profile.mappings[0]
    assert (
        mapping.uri == occupation("accountant") and mapping.confidence == 1.0 and not mapping.low_confidence
    )
    for item in profile.skills:
        assert all(e.experience_id == 7 and e.via_uri == occupation("accountant") for e in item.evidence)
        assert item.source == "declared" and 0 < item.weight <= 1


def test_six_years_weigh_more_than_one_year():
    long = profile_from_declarations(
        "H", [Declaration(1, "job", "accountant", None, TODAY - dt.timedelta(days=2190), None)], TODAY
    )
    short = profile_from_declarations(
        "H", [Declaration(1, "job", "accountant", None, TODAY - dt.timedelta(days=365), None)], TODAY
    )
    assert long.skills[0].weight > short.skills[0].weight


def test_verified_evidence_weighs_more_than_declared():
    uri = skill("manage payroll")
    declared = profile_from_declarations(
        "H", [Declaration(1, "skill", "x", uri, TODAY, None, "declared")], TODAY
    )
    verified = profile_from_declarations(
        "H", [Declaration(1, "skill", "x", uri, TODAY, None, "verified")], TODAY
    )
    assert verified.skills[0].weight > declared.skills[0].weight
    assert verified.skills[0].source == "verified" and declared.skills[0].source == "declared"


def test_cold_start_empty_profile():
    profile = profile_from_declarations("H", [], TODAY)
    assert profile.is_empty and profile.skills == [] and profile.mappings == []


def test_profile_embedding_is_the_weighted_mean_of_its_top_skill_vectors():
    from features.esco_matcher import get_index

    skills = get_index("skill", "names")
    payroll, ledger = skill("manage payroll"), skill("maintain financial records")
    profile = profile_from_declarations(
        "H",
        [
            Declaration(1, "skill", "x", payroll, TODAY, None, "verified"),
            Declaration(2, "skill", "y", ledger, TODAY, None, "declared"),
        ],
        TODAY,
    )
    weights = profile.weights()
    assert weights[payroll] > weights[ledger] > 0
    rows = skills.rows_of([payroll, ledger])
    expected = weights[payroll] * skills.vectors()[rows[0]] + weights[ledger] * skills.vectors()[rows[1]]
    embedding = profile_embedding(profile, skills)
    assert embedding is not None and embedding.dtype == np.float32
    assert np.allclose(embedding, expected / np.linalg.norm(expected), atol=1e-6)
    # only the top k skills count; a skill the index does not know is left out; none known: no embedding
    assert np.allclose(profile_embedding(profile, skills, k=1), skills.vectors()[rows[0]], atol=1e-6)
    profile.skills[0] = dataclasses.replace(profile.skills[0], skill_uri="http://example.org/not-esco")
    assert np.allclose(profile_embedding(profile, skills), skills.vectors()[rows[1]], atol=1e-6)
    assert profile_embedding(profile, skills, k=1) is None
    assert profile_embedding(profile_from_declarations("H", [], TODAY), skills) is None


def test_profile_embedding_lies_near_what_the_holder_knows():
    """An accountant's profile is nearer accounting texts than massage or welding texts (encoder space)."""
    from features.encoder import encode
    from features.esco_matcher import get_index

    accountant = profile_from_declarations(
        "H", [Declaration(1, "job", "accountant", None, TODAY - dt.timedelta(days=2190), None)], TODAY
    )
    embedding = profile_embedding(accountant, get_index("skill", "names"))
    texts = [
        "Accounting and bookkeeping: keep accounting records, prepare financial statements, tax returns",
        "Hot stone massage for relaxation and wellbeing",
        "Arc welding of steel structures",
    ]
    similarity = encode(texts) @ embedding
    assert similarity[0] > similarity[1] + 0.1 and similarity[0] > similarity[2] + 0.1, similarity


# --- Database: declarations, recompute, provenance, verified rows -------------------------------------------


def test_declare_recompute_and_delete(db_url):
    with session_scope(db_url) as session:
        add_holder(session, "H1")
        row = add_experience(session, "H1", accountant_job())
        job_id = row.experience_id
    with session_scope(db_url) as session:
        profile = stored_profile(session, "H1")
        labels = [s.label.lower() for s in profile.top(25)]
        assert any("account" in label for label in labels) and any("tax" in label for label in labels)
        assert all(e.experience_id == job_id for s in profile.skills for e in s.evidence)
        assert {e.via_uri for s in profile.skills for e in s.evidence} == {occupation("accountant")}
        stored = session.get(HolderProfile, "H1")
        assert stored is not None and stored.n_skills == len(profile.skills) and stored.dim == 384
        assert profile.embedding is not None and abs(float((profile.embedding**2).sum()) - 1) < 1e-3
        first_version = stored.version
    with session_scope(db_url) as session:
        delete_experience(session, "H1", job_id)
    with session_scope(db_url) as session:
        assert stored_profile(session, "H1").skills == []
        stored = session.get(HolderProfile, "H1")
        assert stored.n_skills == 0 and stored.dim == 0 and stored.version == first_version + 1


@pytest.mark.slow
@pytest.mark.parametrize("label", ["acountant", "xqzv kwpl"])
def test_typo_or_unknown_job_is_low_confidence_never_a_crash(db_url, label):
    with session_scope(db_url) as session:
        add_holder(session, "H1")
        add_experience(session, "H1", accountant_job(label=label))
    with session_scope(db_url) as session:
        profile = stored_profile(session, "H1")
        assert all(e.low_confidence for s in profile.skills for e in s.evidence)
        assert all(s.weight <= 0.5 for s in profile.skills)


def test_verified_rows_cannot_be_edited_deleted_or_their_skills_removed(db_url):
    payroll = skill("manage payroll")
    with session_scope(db_url) as session:
        add_holder(session, "H1")
        row = Experience(
            holder_id="H1",
            kind="certification",
            label="Payroll certificate",
            esco_uri=payroll,
            start_date=dt.date(2024, 1, 1),
            end_date=dt.date(2024, 2, 1),
            source="verified",
        )
        session.add(row)
        session.flush()
        verified_id = row.experience_id
        add_experience(
            session,
            "H1",
            ExperienceInput("skill", "tax law", dt.date(2020, 1, 1), None, skill("advise on tax planning")),
        )
    with session_scope(db_url) as session:
        with pytest.raises(Conflict):
            delete_experience(session, "H1", verified_id)
        with pytest.raises(Conflict):
            edit_experience(session, "H1", verified_id, {"label": "something else"})
        with pytest.raises(Conflict):
            exclude_skill(session, "H1", payroll, "h1")
    with session_scope(db_url) as session:
        exclude_skill(session, "H1", skill("advise on tax planning"), "h1")
    with session_scope(db_url) as session:
        uris = {s.skill_uri for s in stored_profile(session, "H1").skills}
        assert payroll in uris and skill("advise on tax planning") not in uris
        assert (
            next(s for s in stored_profile(session, "H1").skills if s.skill_uri == payroll).source
            == "verified"
        )


def add_completed_training(session, holder_id: str, training_id: str, title: str, skills: list[str]) -> None:  # type: ignore[no-untyped-def]
    """A training (its provider too) that ``holder_id`` completed on 2025-06-01."""
    if session.get(Provider, "P1") is None:
        session.add(Provider(provider_id="P1", name="Provider"))
    session.add(
        Training(
            training_id=training_id,
            title=title,
            description="",
            certification_code="RS1234",
            provider_id="P1",
            price_cents=100_000,
            hours=35,
            modality="remote",
            region_code="11",
            level=None,
            skills=skills,
            prerequisites=[],
            target_occupations=[],
            content_hash="x",
        )
    )
    session.flush()
    session.add(
        Interaction(
            holder_id=holder_id,
            training_id=training_id,
            event="complete",
            occurred_at=dt.datetime(2025, 6, 1, tzinfo=dt.UTC),
        )
    )
    session.flush()


def test_completed_training_brings_verified_skills(db_url):
    payroll = skill("manage payroll")
    with session_scope(db_url) as session:
        add_holder(session, "H1")
        add_completed_training(session, "H1", "T1", "Payroll", [payroll])
        add_experience(session, "H1", ExperienceInput("skill", "payroll", dt.date(2020, 1, 1), None, payroll))
    with session_scope(db_url) as session:
        item = next(s for s in stored_profile(session, "H1").skills if s.skill_uri == payroll)
        assert item.source == "verified" and {e.training_id for e in item.evidence} == {"T1", None}
        assert len(item.evidence) == 2 and item.weight > max(e.weight for e in item.evidence)


def test_bad_declarations_are_refused_with_field_names(db_url):
    with session_scope(db_url) as session:
        add_holder(session, "H1")
        cases = [
            (ExperienceInput("hobby", "x", dt.date(2020, 1, 1)), "kind"),
            (ExperienceInput("job", "   ", dt.date(2020, 1, 1)), "label"),
            (ExperienceInput("job", "x", dt.date(2020, 1, 1), dt.date(2019, 1, 1)), "end_date"),
            (ExperienceInput("job", "x", dt.date(2020, 1, 1), None, OCCUPATION_PREFIX + "nope"), "esco_uri"),
        ]
        for data, field in cases:
            with pytest.raises(ValidationFailed) as caught:
                add_experience(session, "H1", data)
            assert [p["field"] for p in caught.value.problems] == [field]


def test_skill_gap_to_a_target(db_url):
    target = occupation("payroll clerk")
    with session_scope(db_url) as session:
        add_holder(session, "H1")
        empty = skill_gap(session, "H1", target)  # cold start: everything is missing
        assert empty.coverage == 0.0 and empty.items and all(i.held == 0 for i in empty.items)
        assert [i.gap for i in empty.items] == sorted((i.gap for i in empty.items), reverse=True)
        add_experience(session, "H1", accountant_job())
        gap = skill_gap(session, "H1", target)
        assert 0 < gap.coverage < 1 and len(gap.items) <= len(empty.items)
        assert skill_gap(session, "H1", "payroll clerk").target_uri == target
        with pytest.raises(NotFound):
            skill_gap(session, "H1", OCCUPATION_PREFIX + "00000000-0000-0000-0000-000000000000")
        with pytest.raises(ValidationFailed):
            skill_gap(session, "H1", "  ")


# --- Access -------------------------------------------------------------------------------------------------


def test_write_access_rules(db_url):
    with session_scope(db_url) as session:
        add_holder(session, "H1")
        session.add(Consent(holder_id="H1", adviser_username="adv-ok"))
        session.flush()
        allowed = [
            User(username="h1", role="holder", holder_id="H1", password_hash="-"),
            User(username="adv-ok", role="adviser", password_hash="-"),
        ]
        refused = [
            User(username="h2", role="holder", holder_id="H2", password_hash="-"),
            User(username="adv-no", role="adviser", password_hash="-"),
            User(username="root", role="admin", password_hash="-"),
            User(username="ana", role="analyst", password_hash="-"),
        ]
        for user in allowed:
            assert authorise_holder_write(session, user, "H1", "declare", "/x").holder_id == "H1"
        for user in refused:
            with pytest.raises(Forbidden):
                authorise_holder_write(session, user, "H1", "declare", "/x")


# --- HTTP API -----------------------------------------------------------------------------------------------


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    with session_scope(sqlite_url) as session:
        add_holder(session, "H1")
        add_holder(session, "H2")
        session.add(Consent(holder_id="H1", adviser_username="adviser"))
    upsert_users(
        sqlite_url,
        [
            UserSpec("h1", PASSWORD, "holder", holder_id="H1"),
            UserSpec("h2", PASSWORD, "holder", holder_id="H2"),
            UserSpec("adviser", PASSWORD, "adviser"),
            UserSpec("admin", PASSWORD, "admin"),
        ],
        source="test",
    )
    with TestClient(create_app(Settings(db_url=sqlite_url))) as test_client:
        test_client.db_url = sqlite_url  # type: ignore[attr-defined]
        yield test_client


def auth(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_api_experience_skills_and_gap(client):
    h1 = auth(client, "h1")
    body = {"kind": "job", "label": "accountant", "start_date": "2019-01-01"}
    created = client.post("/v1/holders/H1/experience", json=body, headers=h1)
    assert created.status_code == 201, created.text
    job_id = created.json()["experience_id"]
    assert [e["label"] for e in client.get("/v1/holders/H1/experience", headers=h1).json()] == ["accountant"]

    skills = client.get("/v1/holders/H1/skills", headers=h1).json()
    assert skills["n_skills"] > 0 and skills["skills"][0]["evidence"][0]["experience_id"] == job_id
    assert skills["skills"][0]["evidence"][0]["via_uri"] == occupation("accountant")

    # What a holder reads is ESCO's French label where there is one (the stored profile keeps the URIs).
    from features.esco_fr import load_french_labels

    french_skills = load_french_labels("skill").preferred
    shown = [s for s in skills["skills"] if s["skill_uri"] in french_skills]
    assert shown and all(s["label"] == french_skills[s["skill_uri"]] for s in shown)

    gap = client.get("/v1/holders/H1/skill-gap", params={"target": "payroll clerk"}, headers=h1)
    assert gap.status_code == 200 and gap.json()["target_uri"] == occupation("payroll clerk")
    assert gap.json()["target_label"] == load_french_labels("occupation").preferred[occupation("payroll clerk")]

    patched = client.patch(f"/v1/holders/H1/experience/{job_id}", json={"end_date": "2018-01-01"}, headers=h1)
    assert patched.status_code == 422 and patched.json()["detail"][0]["loc"] == ["end_date"]
    removed = client.delete(f"/v1/holders/H1/experience/{job_id}", headers=h1)
    assert removed.status_code == 204
    assert client.get("/v1/holders/H1/skills", headers=h1).json()["n_skills"] == 0


@pytest.mark.parametrize(
    ("username", "method", "path", "status"),
    [
        ("h2", "get", "/v1/holders/H1/skills", 403),
        ("h2", "post", "/v1/holders/H1/experience", 403),
        ("admin", "get", "/v1/holders/H1/skills", 200),
        ("admin", "post", "/v1/holders/H1/experience", 403),
        ("adviser", "get", "/v1/holders/H1/experience", 200),
        ("adviser", "post", "/v1/holders/H1/experience", 201),
        ("adviser", "get", "/v1/holders/H2/skills", 403),
        ("h1", "get", "/v1/holders/H1/skill-gap?target=", 422),
        ("h1", "get", f"/v1/holders/H1/skill-gap?target={OCCUPATION_PREFIX}nope", 404),
        ("h1", "patch", "/v1/holders/H1/experience/999999", 404),
        ("h1", "delete", "/v1/holders/H1/experience/999999", 404),
    ],
)
def test_api_access_and_errors(client, username, method, path, status):
    body = {"kind": "job", "label": "accountant", "start_date": "2019-01-01"}
    kwargs = {"json": body} if method in ("post", "patch") else {}
    response = getattr(client, method)(path, headers=auth(client, username), **kwargs)
    assert response.status_code == status, response.text


def test_api_names_the_completed_training_behind_a_verified_skill(client):
    payroll = skill("manage payroll")
    with session_scope(client.db_url) as session:
        add_completed_training(session, "H1", "T1", "Gestion de la paie", [payroll])
    body = client.get("/v1/holders/H1/skills", headers=auth(client, "adviser")).json()
    evidence = next(s for s in body["skills"] if s["skill_uri"] == payroll)["evidence"]
    assert [(e["source"], e["training_id"], e["training_title"]) for e in evidence] == [
        ("verified", "T1", "Gestion de la paie")]


def test_api_verified_row_is_409_with_reason(client):
    with session_scope(client.db_url) as session:
        row = Experience(
            holder_id="H1",
            kind="diploma",
            label="BTS comptabilité",
            esco_uri=occupation("accountant"),
            start_date=dt.date(2010, 1, 1),
            end_date=dt.date(2012, 6, 30),
            source="verified",
        )
        session.add(row)
        session.flush()
        row_id = row.experience_id
    response = client.delete(f"/v1/holders/H1/experience/{row_id}", headers=auth(client, "h1"))
    assert response.status_code == 409 and "verified" in response.json()["detail"]
    with session_scope(client.db_url) as session:
        assert session.scalars(select(Experience).where(Experience.experience_id == row_id)).one()


def test_bulk_recompute_matches_one_by_one(db_url):
    with session_scope(db_url) as session:
        for holder_id, label in (("H1", "accountant"), ("H2", "payrol clerk"), ("H3", "")):
            add_holder(session, holder_id)
            if label:
                session.add(
                    Experience(
                        holder_id=holder_id,
                        kind="job",
                        label=label,
                        start_date=dt.date(2018, 1, 1),
                        source="import",
                    )
                )
        session.flush()
        assert recompute_profiles(session, ["H1", "H2", "H3"], show_progress=False) == 3
    with session_scope(db_url) as session:
        bulk = {h: stored_profile(session, h).weights() for h in ("H1", "H2", "H3")}
        assert bulk["H1"] and bulk["H2"] and bulk["H3"] == {}
        one = recompute_profile(session, "H2").weights()
        assert one.keys() == bulk["H2"].keys()
        assert all(abs(one[s] - bulk["H2"][s]) < 1e-3 for s in one)


def test_imported_holder_gets_a_profile_on_first_read(client):
    with session_scope(client.db_url) as session:
        session.add(
            Experience(
                holder_id="H2",
                kind="job",
                label="payroll clerk",
                start_date=dt.date(2016, 1, 1),
                source="import",
            )
        )
    h2 = auth(client, "h2")
    body = client.get("/v1/holders/H2/skills", headers=h2).json()
    assert body["n_skills"] > 0 and body["model_id"]
    with session_scope(client.db_url) as session:
        assert session.get(HolderProfile, "H2").version == 1
    client.get("/v1/holders/H2/skills", headers=h2)  # a second read does not recompute
    with session_scope(client.db_url) as session:
        assert session.get(HolderProfile, "H2").version == 1


# --- Bulk recompute on a generated world ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from training.datasets.world import generate_world

    folder = tmp_path_factory.mktemp("profile-world") / "world"
    generate_world(folder, scale="tiny", seed=5)
    return folder


def _stored_rows(session) -> tuple[list[tuple], dict[str, tuple]]:  # type: ignore[no-untyped-def]
    """Every evidence row (sorted, without its id and timestamp) and every profile row (by holder)."""
    evidence = sorted(
        session.execute(
            select(
                HolderSkill.holder_id,
                HolderSkill.skill_uri,
                HolderSkill.weight,
                HolderSkill.source,
                HolderSkill.experience_id,
                HolderSkill.training_id,
                HolderSkill.via_uri,
                HolderSkill.confidence,
                HolderSkill.low_confidence,
            )
        ).all(),
        key=lambda row: tuple("" if v is None else str(v) for v in row),
    )
    profiles = {
        row[0]: tuple(row[1:])
        for row in session.execute(
            select(
                HolderProfile.holder_id,
                HolderProfile.model_id,
                HolderProfile.dim,
                HolderProfile.n_skills,
                HolderProfile.version,
                HolderProfile.embedding,
            )
        )
    }
    return evidence, profiles


@pytest.mark.slow
def test_bulk_recompute_stores_what_one_by_one_stores_for_every_holder(db_url, tiny_world):
    from ingest.world_import import import_folder

    import_folder(tiny_world, db_url, progress=False)
    with session_scope(db_url) as session:
        holder_ids = sorted(session.scalars(select(Holder.holder_id)))
        # Exclusions and verified completions must take part: exclude a declared skill of a few holders.
        for holder_id in holder_ids[:20]:
            recompute_profile(session, holder_id, today=TODAY)
            declared = [s for s in stored_profile(session, holder_id).skills if s.source == "declared"]
            if declared:
                session.add(HolderSkillExclusion(holder_id=holder_id, skill_uri=declared[0].skill_uri, excluded_by="t"))
    with session_scope(db_url) as session:
        for holder_id in holder_ids:
            recompute_profile(session, holder_id, today=TODAY)
    with session_scope(db_url) as session:
        one_by_one_evidence, one_by_one_profiles = _stored_rows(session)
        assert session.scalar(select(func.count()).select_from(HolderSkillExclusion)) > 5
        assert {row[3] for row in one_by_one_evidence} == {"declared", "verified"}
        # Chunks of 37 holders: chunk boundaries fall inside the list, every chunk is committed on its own.
        assert recompute_profiles(session, holder_ids, today=TODAY, show_progress=False, chunk_size=37,
                                  commit_chunks=True) == len(holder_ids)
    with session_scope(db_url) as session:
        bulk_evidence, bulk_profiles = _stored_rows(session)
    assert len(bulk_evidence) > 10 * len(holder_ids)
    assert bulk_evidence == one_by_one_evidence
    assert bulk_profiles.keys() == one_by_one_profiles.keys() == set(holder_ids)
    for holder_id, (model, dim, n_skills, version, blob) in bulk_profiles.items():
        model_1, dim_1, n_skills_1, version_1, blob_1 = one_by_one_profiles[holder_id]
        assert (model, dim, n_skills, version) == (model_1, dim_1, n_skills_1, version_1 + 1), holder_id
        bulk_vector, one_vector = np.frombuffer(blob, "<f4"), np.frombuffer(blob_1, "<f4")
        # One text alone or in a batch: the same vector up to float rounding of the padded batch.
        assert bulk_vector.shape == one_vector.shape and np.allclose(bulk_vector, one_vector, atol=1e-6)


@pytest.mark.slow
def test_bulk_recompute_failing_mid_way_keeps_finished_chunks_and_leaves_no_holder_half_written(
    db_url, tiny_world
):
    from ingest.world_import import import_folder

    import_folder(tiny_world, db_url, progress=False)
    with session_scope(db_url) as session:
        holder_ids = sorted(session.scalars(select(Holder.holder_id)))[:90]
        recompute_profiles(session, holder_ids, today=TODAY, show_progress=False)
    with session_scope(db_url) as session:
        before_evidence, before_profiles = _stored_rows(session)
    # An unknown holder in the third chunk of 25: the run stops there.
    doomed = holder_ids[:60] + ["NO-SUCH-HOLDER"] + holder_ids[60:]
    with pytest.raises(NotFound), session_scope(db_url) as session:
        recompute_profiles(session, doomed, today=TODAY, show_progress=False, chunk_size=25, commit_chunks=True)
    with session_scope(db_url) as session:
        after_evidence, after_profiles = _stored_rows(session)
    versions = {h: after_profiles[h][3] - before_profiles[h][3] for h in holder_ids}
    assert after_profiles.keys() == before_profiles.keys() == set(holder_ids)
    assert {h for h, bump in versions.items() if bump == 1} == set(holder_ids[:50])  # two chunks committed
    assert {h for h, bump in versions.items() if bump == 0} == set(holder_ids[50:])
    assert after_evidence == before_evidence  # same inputs, same rows: rewritten whole or left alone


def test_the_profile_and_the_matching_share_one_skill_index():
    from features.esco_matcher import get_index

    assert get_index("skill") is get_index("skill", "names")
