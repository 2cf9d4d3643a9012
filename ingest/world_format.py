"""The world folder's import format, defined once: file names, their columns in order, the list separator.

The importer (``ingest.world_import``) validates against it, the generator (``training.datasets``) writes it and
the tests build files from it. Described for people in docs/import.md.
"""

from __future__ import annotations

TRAININGS, HOLDERS = "trainings.csv", "holders.csv"
EXPERIENCE, INTERACTIONS = "experience.csv", "interactions.csv"
FILE_ORDER = (TRAININGS, HOLDERS, EXPERIENCE, INTERACTIONS)
# Columns of each file, in the order the generator writes them (the importer reads them by name).
COLUMNS: dict[str, tuple[str, ...]] = {
    TRAININGS: (
        "training_id",
        "title",
        "description",
        "certification_code",
        "provider_id",
        "provider_name",
        "price_cents",
        "hours",
        "modality",
        "region_code",
        "skills",
        "prerequisites",
        "target_occupations",
        "level",
        "start_dates",
    ),
    HOLDERS: (
        "holder_id",
        "birth_year",
        "region_code",
        "employment_status",
        "qualification_level",
        "cpf_balance_cents",
        "cec_balance_cents",
        "preferred_modality",
        "target_occupation",
    ),
    EXPERIENCE: ("holder_id", "kind", "label", "esco_uri", "start_date", "end_date"),
    INTERACTIONS: ("holder_id", "training_id", "event", "timestamp"),
}
LIST_SEPARATOR = "|"  # between the items of a list field (skills, prerequisites, occupations, start dates)
MANIFEST = "manifest.json"  # optional: the world's as_of date, generator version and file checksums
