"""ESCO reader: label/definition derivation checked against a hand-labelled random sample.

The sample: 32 skills and 18 occupations drawn with ``DataFrame.sample(n, random_state=7)`` from the skills
and occupations frames, then labelled by hand from reading each text (preferred label = the first label of the
run, as ESCO ships it; definition = where the capitalised prose begins). The method was tuned on a different
sample (random_state=11); see docs/esco.md.
"""

from __future__ import annotations

import csv

import pytest

from features.esco import (
    ISCO_PREFIX,
    OCCUPATION_PREFIX,
    SKILL_PREFIX,
    definition_start,
    esco_data_dir,
    load_taxonomy,
    split_description,
    split_isco_description,
)

ESCO = "http://data.europa.eu/esco/"

# (URI after http://data.europa.eu/esco/, hand label, first words of the definition)
HAND_LABELLED = [
    ("skill/6c190890-d5ab-46ab-915b-04e995dc0d76", "building construction principles",
     "The component elements"),
    ("skill/5889c7dd-d33d-4cda-93d6-84b61577cc98", "perform eye surgery", "Treat conditions that"),
    ("skill/30b1f3e1-1586-4d41-aa02-e2ab021b5164", "handle paperwork", "Handle work-related paperwork"),
    ("skill/018164df-2814-4926-bdf7-398d86b9dfe6", "evaluate garment quality",
     "Evaluating stitching, construction"),
    ("skill/cf200547-25b5-47c8-9eda-bca4aedc13fb", "program firmware", "Program permanent software"),
    ("skill/4ccc18f0-1c17-4a02-88aa-52f06ede7195", "perform mathematical calculations in pest management",
     "Make calculations to"),
    ("skill/530d8e4d-3618-4300-b8c3-6ffa8bf68cfb", "stay up-to-date with current events",
     "Inform oneself about"),
    ("skill/4a193795-fa63-414e-9f2e-bfdb3924571e", "handle data samples", "Collect and select"),
    ("skill/6b58a6d2-89cf-4ab5-bb62-eb29ae968934", "implement care programmes for children",
     "Perform activities with"),
    ("skill/5088c536-13fb-4b6b-85e7-4053578e1451", "electrical systems used in transportation",
     "The functioning of"),
    ("skill/f055364f-26ea-455e-a393-b575c149c7e4", "guide jury activities", "Guide the activities"),
    ("skill/6a84bb32-b025-4abb-b88b-f1b882a9f022", "organise entry to attractions", "Arrange the enrolment"),
    ("skill/bf9a2403-850d-4dd3-b266-edaabebc8ab0", "evaluate integrated design of buildings",
     "Use goals and"),
    ("skill/f6a90f59-5a07-4088-b318-e486a42ca58c", "evidence-based approach in general practice",
     "The general principles,"),
    ("skill/2058f70f-af29-460d-b319-9048c6db0d18", "show impartiality", "Perform duties for"),
    ("skill/99b95aca-221d-415c-9de5-564e1a273701", "welcome restaurant guests", "Greet guests and"),
    ("skill/d4a970f6-134b-4d0c-8ddd-1252cda86506", "hot wheel detection system", "Hot wheel detection"),
    ("skill/dc9a236c-c640-43c3-812f-269403591edb", "customer relationship management",
     "The customer-oriented management"),
    ("skill/c7194910-5738-45e9-9932-22dbe2293a0c", "send faulty equipment back to assembly line",
     "Send equipment that"),
    ("skill/316d3695-d4b2-47f8-8ea3-7958d0b5d420", "prepare bills of lading", "Prepare bills of"),
    ("skill/216e5ea6-c683-4945-9f96-03483dc56d9f", "repair lockable devices", "Provide repairing and"),
    ("skill/36570124-e778-4213-862e-c4059eb5c224", "assess debtor's financial situation",
     "Assess the defaulter's"),
    ("skill/3bee464c-bf7c-47c9-b33b-0668d201a387", "train dental technician staff", "Provide training to"),
    ("skill/081d7679-5070-4777-bece-a28c49f15636", "environmental policy", "Local, national and"),
    ("skill/18226538-812b-4b59-a361-cdd58d76673d", "manage buildings' damp problems", "Use damp proofing"),
    ("skill/a5acf4ab-767c-42cc-b9ae-b4a11faa198f", "prepare service trolleys", "Make service trolleys"),
    ("skill/649cab01-fa5e-4721-bf63-76dccc34f3f6", "advise on hazards of heating systems",
     "Provide information and"),
    ("skill/b1338cfb-930c-4bcb-b77a-1034d76ddb0e", "use traditional toolbox tools", "Use tools found"),
    ("skill/b589fa82-f177-4cce-9fb4-31bbbebf792b", "green chemistry", "The process of"),
    ("skill/62c7900c-bc78-469e-9011-cec20a93e555", "perform basket weaving", "Intertwine materials with"),
    ("skill/2945dc58-5b5c-4023-97ee-34ec05905b81", "check in luggage", "Weigh luggage to"),
    ("skill/08365fba-e874-497b-aa9a-1c09d2aecd4d", "focus on passengers", "Transport passengers to"),
    ("occupation/3b2229b4-807c-482a-89ca-2d0a542be196", "gerontology social worker",
     "Gerontology social workers"),
    ("occupation/e9a65aca-64f6-450d-a637-1ecf86ba2a53", "electron beam welder", "Electron beam welders"),
    ("occupation/140613c4-8c3c-43c5-8525-2f63231c95b0", "semiconductor processor",
     "Semiconductor processors manufacture"),
    ("occupation/bbd1fe06-1b55-4937-9317-fc162311ab38", "brigadier", "Brigadiers command large"),
    ("occupation/c01cdf85-3ce0-4d12-ae86-e4e63493fafa", "financial broker", "Financial brokers undertake"),
    ("occupation/b9711647-463f-4991-a858-d5de66ff2f83", "property developer", "Property developers buy"),
    ("occupation/716df735-77eb-47c8-8c06-d86e46903989", "smart home engineer", "Smart home engineers"),
    ("occupation/85acc7e9-1fac-4e91-962b-8b8031f39487", "textile technologist", "Textile technologists are"),
    ("occupation/a4e96a0c-3a49-4cd3-a45c-ff081c28405d", "wood caulker", "Wood caulkers drive"),
    ("occupation/8d4ce4a2-3453-4aa3-befb-7a24595cd68f", "armoured car driver", "Armoured car drivers"),
    ("occupation/e7f6e98a-cef5-41be-b65c-70cf1feed11d", "flower and garden shop manager",
     "Flower and garden"),
    ("occupation/377865f0-c327-4599-8c7e-d428c6588edf", "purchasing manager", "Purchasing managers are"),
    ("occupation/1c5a896a-e010-4217-a29a-c44db26e25da", "embedded systems security engineer",
     "Embedded systems security"),
    ("occupation/21a42cfb-68c7-4f84-bdd7-81de07a6fff3", "gauger", "Gaugers test oil"),
    ("occupation/6fc8f605-98b9-4218-b5e2-91c4c9c55c4d", "design engineer", "Design engineers develop"),
    ("occupation/bb95ef58-9139-4967-bfc1-da8386a4e672", "ICT buyer", "ICT buyers create"),
    ("occupation/2c5ae1b4-c3ca-4882-b7ce-e346ae5b5b00", "botanical technician",
     "Botanical technicians provide"),
    ("occupation/c706886d-5bc7-4430-9a72-051fc483235f", "absorbent pad machine operator",
     "Absorbent pad machine"),
]

LABEL_ACCURACY_REQUIRED = 0.90
DEFINITION_ACCURACY_REQUIRED = 0.96


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


def _derived(taxonomy, uri_tail: str) -> tuple[str, str]:
    uri = ESCO + uri_tail
    frame = taxonomy.skills if uri.startswith(SKILL_PREFIX) else taxonomy.occupations
    return str(frame.at[uri, "label"]), str(frame.at[uri, "definition"])


def test_sample_is_large_enough_and_mixed():
    kinds = {uri.split("/")[0] for uri, _, _ in HAND_LABELLED}
    assert len(HAND_LABELLED) >= 40 and kinds == {"skill", "occupation"}
    assert len({uri for uri, _, _ in HAND_LABELLED}) == len(HAND_LABELLED)


def test_derived_labels_match_hand_labels(taxonomy):
    misses = [(uri, want, got) for uri, want, _ in HAND_LABELLED
              if (got := _derived(taxonomy, uri)[0]) != want]
    accuracy = 1 - len(misses) / len(HAND_LABELLED)
    # Measured 49/50 = 98 % (docs/esco.md); the one miss is "show impartiality maintain neutrality".
    assert accuracy >= LABEL_ACCURACY_REQUIRED, misses


def test_definitions_start_where_they_should(taxonomy):
    misses = [(uri, want, got[:40]) for uri, _, want in HAND_LABELLED
              if not (got := _derived(taxonomy, uri)[1]).startswith(want)]
    assert 1 - len(misses) / len(HAND_LABELLED) >= DEFINITION_ACCURACY_REQUIRED, misses


@pytest.mark.parametrize(
    ("text", "label", "definition_head"),
    [
        # Cases the first heuristic got wrong (skill labels cut inside a phrase or swallowing the next label).
        ("embargo regulations regulating an embargo embargo legislation embargo rules embargo regulation "
         "The national, international and foreign sanctions.", "embargo regulations", "The national"),
        ("understand budgetary limits understanding budgetary limits comprehend budgetary limits "
         "Understand the limits of the budget.", "understand budgetary limits", "Understand the limits"),
        ("comply with farm regulations complying with agricultural regulations comply with agricultural "
         "regulations Comply with the rules.", "comply with farm regulations", "Comply with"),
        # A proper noun inside the labels is not the start of the definition.
        ("communicate verbally in Kazakh speak Kazakh interact verbally in Kazakh "
         "Communicate orally in Kazakh.", "communicate verbally in Kazakh", "Communicate orally"),
        # An acronym label and a definition that restates it in the plural.
        ("ICT buyer ICT procurer ICT buyers IT buyer ICT purchaser "
         "ICT buyers create and place purchase orders.", "ICT buyer", "ICT buyers create"),
        # No alternative labels at all.
        ("handle data samples Collect and select a set of data from a population.", "handle data samples",
         "Collect and select"),
        ("SAP Data Services The computer program SAP Data Services is a tool.", "SAP Data Services",
         "The computer program"),
    ],
)
def test_split_description_cases(text, label, definition_head):
    got_label, _, got_definition = split_description(text)
    assert got_label == label
    assert got_definition.startswith(definition_head)


def test_text_without_definition_keeps_all_words_as_labels():
    words = ["manage", "habitats", "managing", "habitats"]
    assert definition_start(words) is None
    label, alternatives, definition = split_description(" ".join(words))
    assert definition == "" and label and (label + " " + alternatives).strip() == " ".join(words)


def test_isco_groups_are_kept_apart_from_occupations(taxonomy):
    assert len(taxonomy.skills) == 13_939
    assert len(taxonomy.occupations) == 3_039
    assert len(taxonomy.isco_groups) == 619
    assert taxonomy.occupations["uri"].str.startswith(OCCUPATION_PREFIX).all()
    assert taxonomy.isco_groups["uri"].str.startswith(ISCO_PREFIX).all()
    assert not set(taxonomy.occupations.index) & set(taxonomy.isco_groups.index)
    assert taxonomy.isco_groups.at[ISCO_PREFIX + "C0", "label"] == "Armed forces occupations"


def test_occupations_file_has_multiline_records():
    """~13,000 physical lines but 3,658 records: ISCO texts (and some occupation texts) span lines."""
    path = esco_data_dir() / "occupations.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        lines = sum(1 for _ in handle)
        handle.seek(0)
        records = list(csv.DictReader(handle))
    assert lines > 12_000 and len(records) == 3_658
    multiline = [r for r in records if "\n" in r["description"]]
    assert all(r["id"].startswith(ISCO_PREFIX) for r in records if "/isco/" in r["id"])
    assert sum(r["id"].startswith(ISCO_PREFIX) for r in multiline) == 619


def test_isco_title_is_split_at_the_double_space():
    text = "Armed forces occupations  Armed forces occupations include all jobs.\nMore"
    assert split_isco_description(text) == (
        "Armed forces occupations", "Armed forces occupations include all jobs. More")
