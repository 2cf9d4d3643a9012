"""Users who sign in: creation and update one by one or from a CSV (all-or-nothing)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from parcours.errors import ValidationFailed
from parcours.store.engine import migrate, session_scope
from parcours.store.models import ROLES, Holder, User
from serving.security import hash_password

USER_COLUMNS = ("username", "password", "role", "holder_id", "provider_id", "funder_id")


@dataclass(frozen=True)
class UserSpec:
    username: str
    password: str
    role: str
    holder_id: str | None = None
    provider_id: str | None = None
    funder_id: str | None = None


def validate_user(spec: UserSpec, *, source: str, row: int | None) -> list[dict[str, object]]:
    problems: list[dict[str, object]] = []

    def add(field: str, message: str) -> None:
        problems.append({"file": source, "row": row, "field": field, "message": message})

    if not spec.username or len(spec.username) > 150 or any(c.isspace() for c in spec.username):
        add("username", "must be 1–150 characters without spaces")
    if len(spec.password) < 8:
        add("password", "must have at least 8 characters")
    if spec.role not in ROLES:
        add("role", f"must be one of {', '.join(ROLES)}, not {spec.role!r}")
    if spec.role == "holder" and not spec.holder_id:
        add("holder_id", "is required for role holder")
    if spec.role == "provider" and not spec.provider_id:
        add("provider_id", "is required for role provider")
    if spec.role == "funder" and not spec.funder_id:
        add("funder_id", "is required for role funder")
    return problems


def read_users_csv(path: Path) -> list[UserSpec]:
    if not path.is_file():
        raise ValidationFailed([{"file": str(path), "row": None, "field": None, "message": "file not found"}])
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in USER_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValidationFailed(
                [{"file": str(path), "row": 1, "field": c, "message": "missing column"} for c in missing]
            )
        return [
            UserSpec(
                username=(row.get("username") or "").strip(),
                password=row.get("password") or "",
                role=(row.get("role") or "").strip(),
                holder_id=(row.get("holder_id") or "").strip() or None,
                provider_id=(row.get("provider_id") or "").strip() or None,
                funder_id=(row.get("funder_id") or "").strip() or None,
            )
            for row in reader
        ]


def upsert_users(db_url: str, specs: list[UserSpec], *, source: str) -> int:
    """Create or update users; returns how many were created. Nothing is written if any row is bad."""
    problems: list[dict[str, object]] = []
    seen: set[str] = set()
    for row, spec in enumerate(specs, start=2):
        problems += validate_user(spec, source=source, row=row if len(specs) > 1 or source != "stdin" else None)
        if spec.username in seen:
            problems.append({"file": source, "row": row, "field": "username", "message": "duplicate username"})
        seen.add(spec.username)
    migrate(db_url)
    with session_scope(db_url) as session:
        holder_ids = {s.holder_id for s in specs if s.holder_id}
        known: set[str] = set()
        if holder_ids:
            known = set(session.scalars(select(Holder.holder_id).where(Holder.holder_id.in_(holder_ids))))
        for row, spec in enumerate(specs, start=2):
            if spec.holder_id and spec.holder_id not in known:
                problems.append({"file": source, "row": row, "field": "holder_id",
                                 "message": f"unknown holder {spec.holder_id!r}"})
        if problems:
            raise ValidationFailed(problems)
        existing = {u.username: u for u in session.scalars(select(User).where(User.username.in_(seen)))}
        created = 0
        for spec in specs:
            user = existing.get(spec.username)
            if user is None:
                user = User(username=spec.username)
                session.add(user)
                created += 1
            user.password_hash = hash_password(spec.password)
            user.role = spec.role
            user.holder_id, user.provider_id, user.funder_id = spec.holder_id, spec.provider_id, spec.funder_id
        return created
