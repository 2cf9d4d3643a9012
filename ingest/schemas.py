"""The pandera schema of each file of the world folder (``build_rules``) and its run over a chunk, each failure
turned into a problem naming file, row and field (``validate_chunk``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pandera.pandas as pa

from ingest.cross_chunk import ProviderNames, References, UniqueKeys
from ingest.problems import Problem, problem
from ingest.rules import (
    ID_MAX,
    EscoSets,
    RowRule,
    Rule,
    certification,
    column_length,
    dates_ordered,
    esco,
    esco_list,
    identifier,
    iso_date,
    iso_date_list,
    level,
    max_length,
    one_of,
    required,
    timestamp,
    utc,
    whole,
)
from ingest.world_format import COLUMNS, EXPERIENCE, HOLDERS, INTERACTIONS, TRAININGS
from parcours.store.models import (
    EMPLOYMENT_STATUSES,
    EXPERIENCE_KINDS,
    INTERACTION_EVENTS,
    MODALITIES,
    Experience,
    Holder,
    Provider,
    Training,
)

DESCRIPTION_MAX = 20_000  # a Text column; longer texts are a mistake (and only the start is embedded)
MAX_CENTS = 10**11  # one billion euros: far above any price or balance, far below BIGINT
MAX_HOURS = 100_000


@dataclass
class FileRules:
    """The rules of one file: per column, across columns, and the state that spans chunks."""

    columns: dict[str, list[Rule]]
    rows: list[RowRule] = field(default_factory=list)
    keys: UniqueKeys | None = None
    references: dict[str, References] = field(default_factory=dict)
    providers: ProviderNames | None = None

    def schema(self) -> pa.DataFrameSchema:
        return pa.DataFrameSchema(
            {
                name: pa.Column(checks=[pa.Check(rule.test, name=rule.name) for rule in rules])
                for name, rules in self.columns.items()
            },
            checks=[pa.Check(rule.test, name=rule.name) for rule in self.rows],
            strict=False,
        )


def build_rules(name: str, sets: EscoSets, references: dict[str, References]) -> FileRules:
    """The validation rules of each file of the world folder (formats in docs/import.md and ingest/world_format.py)."""
    ident = [required(), max_length(ID_MAX), identifier()]
    if name == TRAININGS:
        keys, providers = UniqueKeys(), ProviderNames()
        return FileRules(
            columns={
                "training_id": [*ident, keys.rule()],
                "title": [required(), max_length(column_length(Training.title))],
                "description": [max_length(DESCRIPTION_MAX)],
                "certification_code": [
                    required(),
                    max_length(column_length(Training.certification_code)),
                    certification(),
                ],
                "provider_id": ident,
                "provider_name": [required(), max_length(column_length(Provider.name))],
                "price_cents": [required(), whole(0, MAX_CENTS, cents=True)],
                "hours": [required(), whole(1, MAX_HOURS)],
                "modality": [required(), one_of(MODALITIES)],
                "region_code": [required(), max_length(column_length(Training.region_code)), identifier()],
                "skills": [esco_list(sets, "skills")],
                "prerequisites": [esco_list(sets, "skills")],
                "target_occupations": [esco_list(sets, "occupations")],
                "level": [level()],
                "start_dates": [iso_date_list()],
            },
            rows=[providers.rule()],
            keys=keys,
            providers=providers,
        )
    if name == HOLDERS:
        keys = UniqueKeys()
        return FileRules(
            columns={
                "holder_id": [*ident, keys.rule()],
                "birth_year": [required(), whole(1900, 2100)],
                "region_code": [required(), max_length(column_length(Holder.region_code)), identifier()],
                "employment_status": [required(), one_of(EMPLOYMENT_STATUSES)],
                "qualification_level": [level()],
                "cpf_balance_cents": [required(), whole(0, MAX_CENTS, cents=True)],
                "cec_balance_cents": [required(), whole(0, MAX_CENTS, cents=True)],
                "preferred_modality": [one_of(MODALITIES)],
                "target_occupation": [
                    max_length(column_length(Holder.target_occupation)),
                    esco(sets, "occupations"),
                ],
            },
            keys=keys,
        )
    if name == EXPERIENCE:
        return FileRules(
            columns={
                "holder_id": [*ident, references["holder_id"].rule()],
                "kind": [required(), one_of(EXPERIENCE_KINDS)],
                "label": [required(), max_length(column_length(Experience.label))],
                "esco_uri": [max_length(column_length(Experience.esco_uri)), esco(sets, "skills", "occupations")],
                "start_date": [required(), iso_date()],
                "end_date": [iso_date()],
            },
            rows=[dates_ordered()],
            references=references,
        )
    if name == INTERACTIONS:
        return FileRules(
            columns={
                "holder_id": [*ident, references["holder_id"].rule()],
                "training_id": [*ident, references["training_id"].rule()],
                "event": [required(), one_of(INTERACTION_EVENTS)],
                "timestamp": [required(), timestamp(), utc()],
            },
            references=references,
        )
    raise ValueError(f"no rules for {name}")


def validate_chunk(name: str, rules: FileRules, schema: pa.DataFrameSchema, frame: pd.DataFrame) -> list[Problem]:
    """Run the pandera schema over a chunk and turn each failure into a problem naming file, row and field."""
    if frame.empty:
        return []
    for column, reference in rules.references.items():
        reference.prepare(frame[column])
    try:
        schema.validate(frame, lazy=True)
        return []
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    messages = {(column, rule.name): rule for column, column_rules in rules.columns.items() for rule in column_rules}
    row_rules = {rule.name: rule for rule in rules.rows}
    problems: dict[tuple[int, int, str], Problem] = {}
    order = {column: i for i, column in enumerate(COLUMNS[name])}
    first_names = rules.providers.first_names(frame) if rules.providers is not None and row_rules else None
    for column, check, row in zip(
        failures["column"].tolist(), failures["check"].tolist(), failures["index"].tolist(), strict=True
    ):
        if row is None or pd.isna(row):
            continue
        row = int(row)
        if check in row_rules:
            row_rule = row_rules[check]
            values = frame.loc[row].copy()
            if first_names is not None:
                values["first_name"] = first_names.loc[row]
            key = (row, order[row_rule.field], row_rule.name)
            problems.setdefault(key, problem(name, row, row_rule.field, row_rule.message(values)))
            continue
        rule = messages.get((column, check))
        if rule is None:  # a failure pandera raised itself (it should not: no dtypes are declared)
            problems.setdefault((row, order.get(column, 99), check), problem(name, row, column, str(check)))
            continue
        value = str(frame.at[row, column])
        problems.setdefault((row, order[column], check), problem(name, row, column, rule.message(value)))
    return [problems[key] for key in sorted(problems)]
