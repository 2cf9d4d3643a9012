"""Worlds for the benchmarks that fit and evaluate the ranker (``bench_ranker``, ``bench_zoo``, ``bench_paths``).

A world is generated under the work folder (reused when its ``manifest.json`` says the same scale, seed, as-of and
variant, with the variant's current parameters), imported into its own SQLite database, and its skills profiles
recomputed; the database is reused only when a marker file written after the profiles were committed says so (for
the same world files), so an interrupted run redoes the step. The default variant keeps the names it had before the
world zoo, so earlier caches stay valid.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

AS_OF = dt.date(2026, 11, 1)
SCALE = "small"
MARKER_VERSION = 2  # 2: profile embeddings as the weighted mean of skill vectors (a database of 1 is rebuilt)


def _suffix(variant: str) -> str:
    return "" if variant == "default" else f"-{variant}"


def _same_world(info: dict[str, Any], scale: str, seed: int, as_of: dt.date, variant: str) -> bool:
    """Whether a manifest describes the world asked for, drawn with the variant's current parameters."""
    from training.datasets.world_params import VARIANTS

    if (info.get("scale"), info.get("seed"), info.get("as_of")) != (scale, seed, as_of.isoformat()):
        return False
    if "variant" not in info:  # drawn before the zoo: the default world, whose parameters have not changed
        return variant == "default"
    wanted = VARIANTS[variant]
    process = info.get("process", {})
    return (
        info["variant"] == json.loads(json.dumps(wanted.manifest()))
        and info.get("utility_weights") == asdict(wanted.weights)
        and (process.get("view_temperature"), process.get("enrol_noise_sd"))
        == (wanted.view_temperature, wanted.enrol_noise_sd)
    )


def world_folder(
    work_dir: Path, seed: int, scale: str = SCALE, *, variant: str = "default", as_of: dt.date = AS_OF
) -> Path:
    """The world of ``seed`` under ``work_dir``, generated unless a complete one with the same parameters is there."""
    from training.datasets.world import generate_world

    folder = Path(work_dir) / f"world-{scale}-{seed}-{as_of.isoformat()}{_suffix(variant)}"
    manifest = folder / "manifest.json"
    if manifest.exists() and _same_world(json.loads(manifest.read_text(encoding="utf-8")), scale, seed, as_of, variant):
        return folder
    if folder.exists():  # an older or interrupted draw: no file of it may survive (truth files differ by variant)
        shutil.rmtree(folder)
    print(f"generating the {scale} world, seed {seed}, variant {variant}", flush=True)
    generate_world(folder, scale=scale, seed=seed, as_of=as_of, variant=variant)
    return folder


def matcher_fingerprint() -> str:
    """Digest of what matches free text to ESCO beyond the world files (the profiles read declared experiences
    through it): the matcher's code, the ESCO data shipped beside it and the multilingual encoder's version."""
    from features import esco_matcher

    digest = hashlib.sha256()
    code = Path(esco_matcher.__file__)
    for path in [code, *sorted((code.parent / "esco_data").glob("*"))]:
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update((esco_matcher.e5_model_id() if esco_matcher.e5_available() else "no-e5").encode())
    return digest.hexdigest()[:16]


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def database_for(
    world: Path, work_dir: Path, seed: int, scale: str = SCALE, *, variant: str = "default", as_of: dt.date = AS_OF
) -> tuple[str, dict[str, float]]:
    """SQLite URL of a database holding the imported world and its recomputed profiles, and the seconds each
    step took (read back from the marker when the database is reused)."""
    from sqlalchemy import select

    from features.profile.recompute import recompute_profiles
    from ingest.world_import import import_folder
    from parcours.store.engine import migrate, session_scope
    from parcours.store.models import Holder

    path = Path(work_dir) / f"ranker-{scale}-{seed}-{as_of.isoformat()}{_suffix(variant)}.db"
    marker = path.with_suffix(".ready.json")
    url = f"sqlite:///{path.resolve()}"
    files = json.loads((world / "manifest.json").read_text(encoding="utf-8")).get("files", {})
    matcher = matcher_fingerprint()
    if marker.exists() and path.exists():
        info = json.loads(marker.read_text(encoding="utf-8"))
        same_files = info.get("world_files", files) == files  # markers written before the zoo do not say
        same_matcher = info.get("matcher") == matcher
        if (info.get("version") == MARKER_VERSION and info.get("world") == str(world.resolve()) and same_files
                and same_matcher):
            return url, {"import_seconds": info["import_seconds"], "profile_seconds": info["profile_seconds"]}
    marker.unlink(missing_ok=True)
    _remove_sqlite(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    migrate(url)
    started = time.perf_counter()
    import_folder(world, url)
    import_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with session_scope(url) as session:
        ids = list(session.scalars(select(Holder.holder_id).order_by(Holder.holder_id)))
        recompute_profiles(session, ids, today=as_of)
    profile_seconds = time.perf_counter() - started
    marker.write_text(json.dumps({"version": MARKER_VERSION, "world": str(world.resolve()), "world_files": files,
                                  "matcher": matcher, "holders": len(ids), "import_seconds": import_seconds,
                                  "profile_seconds": profile_seconds}, indent=2), encoding="utf-8")
    return url, {"import_seconds": import_seconds, "profile_seconds": profile_seconds}
