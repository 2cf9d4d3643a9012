"""A small hand-made catalogue for the search tests: accounting, stone cutting, hot-stone massage and others.

Titles and descriptions are written the way providers write them; skills are real ESCO skill URIs. The
stone-cutting and hot-stone-massage trainings share the word "stone" on purpose (the false friends users
complained about).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from features.catalogue import content_hash
from features.esco import SKILL_PREFIX
from parcours.store.engine import session_scope
from parcours.store.models import Provider, Training, TrainingSession

TODAY = dt.date(2026, 3, 2)

S = SKILL_PREFIX
ACCOUNTING = [
    S + "ecc18804-a466-40d9-98b4-fba5cd67dd4b",
    S + "880c54f9-866e-4f37-b5fa-25ef8a7d49b6",
    S + "99b163e8-7815-43e2-83f3-a47f3076354c",
]
FINANCIAL_STATEMENTS = S + "60f51172-37c0-4933-a27a-cbf55dcd7580"
GENERAL_LEDGER = S + "dc417e19-edb4-4401-883a-2375f67a162f"
PAYROLL = S + "3ee090a1-9d1c-44ed-bd93-f6b7c9b68a97"
TAX_RETURNS = S + "22a173f5-868c-4d82-87e6-beed500ce070"
DIMENSION_STONE = S + "183dfd0f-9965-4ecc-b42d-72dee6baeab8"
STONE_SPLITTING = S + "3506c2ba-23ac-4a46-8e42-4ba113ab5907"
STONE_BLOCKS = S + "c4ebdb98-0849-4159-826e-13b1a07aadc4"
POLISH_STONE = S + "e59364ae-878a-4bd7-aa18-b2a1291a3757"
STONE_TYPES = S + "0e13adb5-f135-429b-94c3-24cc1cf1b1ac"
STONEMASON_CHISEL = S + "f1421b08-2893-43e1-9b8c-8dbbae7f7f13"
PNEUMATIC_CHISEL = S + "519c8b98-93cc-436b-9de9-71388a765c9e"
GIVE_MASSAGES = S + "2b16031c-6278-4929-adc1-127f40c3c76e"
MASSAGE_TYPES = S + "b028aef0-6227-40a8-a35c-9ded6ceeead8"
THERAPEUTIC_MASSAGE = S + "95992467-644f-4178-97ad-b0e50a8ab084"
RELAXATION = S + "b0f4dea9-2a99-449e-b042-9afada464cb1"
AROMATHERAPY = S + "b811231c-9398-4996-bd14-48b15a3caaeb"
PERFORM_WELDING = S + "34016949-da9c-4107-98e3-1080ae405e27"
WELDING_TECHNIQUES = S + "530cb489-d900-46ab-9350-4d50ccd49eea"
WEB_PROGRAMMING = S + "69bbd53f-fbb0-4476-b4b2-ef7844464e28"
JAVASCRIPT = S + "3cd569a2-4f88-4c1e-9995-8dce8c5e51a7"
PYTHON = S + "ccd0a1d9-afda-43d9-b901-96344886e14d"
FIRST_AID = S + "02bf9522-bd6e-4482-be03-1827483be21a"
ENGLISH = S + "6d3edede-8951-4621-a835-e04323300fa0"
PROJECT_MANAGEMENT = S + "7111b95d-0ce3-441a-9d92-4c75d05c4388"
DRIVE_FORKLIFTS = S + "a6bbc19a-381c-4c60-a79a-41dea2d1a422"

# training_id, title, description, certification, price €, hours, modality, region, level, skills, sessions
# (sessions: day offsets from TODAY)
TRAININGS: list[tuple[str, str, str, str, int, int, str, str, int | None, list[str], list[int]]] = [
    (
        "ACC-01",
        "Bookkeeping and accounting for small businesses",
        "Record sales and purchases, keep the books of a small company, reconcile bank statements and "
        "close the "
        "accounts at year end.",
        "RNCP37121",
        2400,
        140,
        "remote",
        "11",
        4,
        [*ACCOUNTING, GENERAL_LEDGER],
        [20, 80],
    ),
    (
        "ACC-02",
        "Management accountant",
        "Cost accounting, budgets and financial statements: prepare the balance sheet and the profit and "
        "loss "
        "account, analyse margins and report to management.",
        "RNCP35522",
        5200,
        420,
        "onsite",
        "84",
        6,
        [ACCOUNTING[1], FINANCIAL_STATEMENTS, ACCOUNTING[2]],
        [35],
    ),
    (
        "ACC-03",
        "Payroll and general ledger technician",
        "Post accounting entries to the general ledger, run the monthly payroll and prepare VAT and tax "
        "returns for clients of an accounting firm.",
        "RNCP34837",
        3900,
        350,
        "hybrid",
        "76",
        5,
        [GENERAL_LEDGER, PAYROLL, TAX_RETURNS, ACCOUNTING[2]],
        [15, 200],
    ),
    (
        "ACC-OLD",
        "Accounting fundamentals",
        "Double-entry bookkeeping, journals and the general ledger for beginners in accounting.",
        "RS5127",
        900,
        35,
        "remote",
        "11",
        None,
        [*ACCOUNTING],
        [-40],
    ),
    (
        "STN-01",
        "Stonemason: cutting and dressing stone",
        "Learn to cut, split and dress limestone and granite blocks by hand and with machines, read stone "
        "cutting plans and set out building stones on site.",
        "RNCP36234",
        6100,
        700,
        "onsite",
        "84",
        3,
        [DIMENSION_STONE, STONE_SPLITTING, STONEMASON_CHISEL, STONE_TYPES],
        [25, 120],
    ),
    (
        "STN-02",
        "Stone cutter in a quarry and workshop",
        "Operate sawing and splitting machines, handle heavy stone blocks safely, finish and polish cut "
        "stone for "
        "building and paving.",
        "RS6021",
        4300,
        400,
        "onsite",
        "76",
        3,
        [STONE_BLOCKS, STONE_SPLITTING, POLISH_STONE, DIMENSION_STONE],
        [40],
    ),
    (
        "STN-03",
        "Heritage masonry: carving and restoring stone",
        "Carve mouldings and restore the stonework of historic buildings with the stonemason's chisel, "
        "mallet and "
        "pneumatic tools.",
        "RNCP38110",
        7400,
        800,
        "onsite",
        "11",
        4,
        [STONEMASON_CHISEL, PNEUMATIC_CHISEL, STONE_TYPES],
        [60],
    ),
    (
        "MAS-01",
        "Hot stone massage",
        "Relaxing massage with heated basalt stones: prepare and heat the stones, hygiene, "
        "contraindications and "
        "a complete hot stone body massage routine.",
        "RS5543",
        890,
        35,
        "onsite",
        "11",
        None,
        [GIVE_MASSAGES, MASSAGE_TYPES, RELAXATION],
        [10, 50],
    ),
    (
        "MAS-02",
        "Spa practitioner: hot stones, aromatherapy and body treatments",
        "Welcome spa clients, perform body treatments with hot stones and essential oils, and run a wellness "
        "cabin.",
        "RNCP36990",
        3100,
        300,
        "hybrid",
        "84",
        4,
        [GIVE_MASSAGES, AROMATHERAPY, RELAXATION],
        [30],
    ),
    (
        "MAS-03",
        "Therapeutic massage practitioner",
        "Massage techniques to relieve pain and tension, anatomy for massage therapists, client assessment.",
        "RS6188",
        2600,
        210,
        "onsite",
        "76",
        None,
        [THERAPEUTIC_MASSAGE, GIVE_MASSAGES, MASSAGE_TYPES],
        [45],
    ),
    (
        "WLD-01",
        "Arc and TIG welder",
        "Weld steel and stainless steel assemblies with arc and TIG processes, read welding drawings.",
        "RNCP35100",
        6800,
        600,
        "onsite",
        "76",
        3,
        [PERFORM_WELDING, WELDING_TECHNIQUES],
        [21],
    ),
    (
        "WEB-01",
        "Web developer (JavaScript)",
        "Build websites and web applications with HTML, CSS and JavaScript, from design to deployment.",
        "RNCP37674",
        5900,
        650,
        "remote",
        "11",
        5,
        [WEB_PROGRAMMING, JAVASCRIPT],
        [14, 90],
    ),
    (
        "PY-01",
        "Python for data analysis",
        "Clean, analyse and chart data with Python, pandas and notebooks.",
        "RS5989",
        1900,
        70,
        "remote",
        "84",
        None,
        [PYTHON],
        [12],
    ),
    (
        "AID-01",
        "Workplace first aid",
        "First aid at work: protect, alert and give first aid to a colleague until emergency services "
        "arrive.",
        "RS5210",
        250,
        14,
        "onsite",
        "11",
        None,
        [FIRST_AID],
        [7, 37, 67],
    ),
    (
        "ENG-01",
        "Business English",
        "Improve spoken and written English for meetings, e-mails and presentations at work.",
        "RS5680",
        1500,
        40,
        "remote",
        "76",
        None,
        [ENGLISH],
        [9],
    ),
    (
        "PM-01",
        "Project manager",
        "Plan, budget and lead projects, manage risks and teams with agile and classic methods.",
        "RNCP36505",
        4800,
        400,
        "hybrid",
        "84",
        6,
        [PROJECT_MANAGEMENT],
        [33],
    ),
    (
        "FRK-01",
        "Forklift truck driver",
        "Drive forklift trucks safely in warehouses, load and unload lorries, stack pallets.",
        "RS5164",
        700,
        21,
        "onsite",
        "11",
        None,
        [DRIVE_FORKLIFTS],
        [5, 19],
    ),
]

PROVIDERS = {
    "11": ("P-IDF", "Formations Île-de-France"),
    "84": ("P-ARA", "Campus Auvergne-Rhône-Alpes"),
    "76": ("P-OCC", "Ateliers d'Occitanie"),
}


def seed_catalogue(db_url: str, today: dt.date = TODAY) -> None:
    """Insert the providers, trainings and sessions above (dates relative to ``today``)."""
    with session_scope(db_url) as session:
        for provider_id, name in PROVIDERS.values():
            session.add(Provider(provider_id=provider_id, name=name))
        session.flush()
        for (
            training_id,
            title,
            description,
            code,
            euros,
            hours,
            modality,
            region,
            level,
            skills,
            offsets,
        ) in TRAININGS:
            session.add(
                Training(
                    training_id=training_id,
                    title=title,
                    description=description,
                    certification_code=code,
                    provider_id=PROVIDERS[region][0],
                    price_cents=euros * 100,
                    hours=hours,
                    modality=modality,
                    region_code=region,
                    level=level,
                    skills=skills,
                    prerequisites=[],
                    target_occupations=[],
                    content_hash=content_hash(title, description, code, skills),
                )
            )
            for offset in offsets:
                session.add(
                    TrainingSession(training_id=training_id, start_date=today + dt.timedelta(days=offset))
                )


def cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder per test session (and xdist worker): the ONNX export and embeddings are made once."""
    folder = tmp_path_factory.getbasetemp() / "parcours-search-cache"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def training(training_id: str) -> tuple:
    return next(t for t in TRAININGS if t[0] == training_id)
