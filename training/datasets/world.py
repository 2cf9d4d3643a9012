"""Synthetic CPF worlds grounded in ESCO: providers, trainings, holders and 24 months of interactions.

Why a synthetic world: the recommender, the rights ledger and the statistics need data with a known truth.
Everything here is drawn from a documented latent model (``data/README.md``: every factor, weight and step of
the view → enrol → complete process; the constants of ``world_params`` carry the same names). What a real system
would see goes to the import files (``ingest.world_format``); what only the simulator knows (latent skills,
preferences, provider quality, the noise-free utility) goes to ``truth/`` and is read back by
``world_utility.truth_utility`` for evaluation.

The world is a deterministic function of (seed, scale, as_of, variant): one ``numpy.random.Generator`` per stage
is spawned from the seed, every collection is iterated in a sorted order and no clock is read for content. The
variant (``world_params.VARIANTS``, the world zoo) changes what drives the choices; ``default`` is the world
documented in data/README.md, drawn exactly as before the zoo existed.

This module runs the generator (:func:`generate_world`) and writes the manifest; the parts live beside it:
``world_builder`` (the stages, put together by ``WorldBuilder``), ``world_files`` (the files), and what they
use (``world_params``, ``world_reference``, ``world_text``, ``world_esco``, ``world_utility``, ``world_ledger``
…).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict
from pathlib import Path

from ingest.world_format import FILE_ORDER, MANIFEST
from training.datasets.world_builder import WorldBuilder
from training.datasets.world_files import DEMO_USERS, TRUTH, Written, sha256, write_world
from training.datasets.world_params import (
    COMMON_TRADES,
    ENROL_RATE,
    LANGUAGES,
    MAX_DAYS_BEFORE_SESSION,
    MAX_ENROLMENTS,
    MIN_DAYS_BEFORE_SESSION,
    SCALES,
    VARIANTS,
    variant_problem,
)
from training.datasets.world_time import first_of_month

GENERATOR_VERSION = "1.0.0"


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._last, 2)
        self._last = now


def generate_world(
    out: Path,
    *,
    scale: str,
    seed: int,
    as_of: dt.date | None = None,
    variant: str = "default",
    lang: str = "en",
) -> str:
    """Write a synthetic world (import files, demo users, ``truth/``, ``manifest.json``) into ``out``.

    The world is a deterministic function of (seed, scale, as_of, variant, lang); ``as_of`` defaults to the first
    day of the current month, ``variant`` names one of ``world_params.VARIANTS`` (the world zoo), ``lang`` the
    language of its texts (``fr``: French texts, and the common trades in its occupations). Returns a
    one-paragraph summary with counts and timings.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, not {scale!r}")
    problem = variant_problem(SCALES[scale], variant)
    if problem:
        raise ValueError(problem)
    as_of = as_of or first_of_month(dt.date.today())
    out = Path(out)
    truth_dir = out / TRUTH
    truth_dir.mkdir(parents=True, exist_ok=True)
    timer = _Timer()
    builder = WorldBuilder(SCALES[scale], seed, as_of, VARIANTS[variant], lang=lang)
    timer.lap("esco")
    builder.make_catalogue()
    timer.lap("catalogue")
    budget = builder.make_holders()
    timer.lap("holders")
    trainings, frames = builder.simulate(budget)
    timer.lap("interactions")
    cpf, cec, ledger = builder.final_ledger()
    timer.lap("ledger")
    written = write_world(out, builder, trainings, frames, cpf, cec, ledger)
    timer.lap("write")
    _write_manifest(out, builder, scale, written)
    timer.lap("manifest")

    total = sum(timer.timings.values())
    ev = written.events
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in timer.timings.items())
    cat, pop = builder.catalogue, builder.population
    kind = ("" if variant == "default" else f", variant {variant}") + ("" if lang == "en" else f", in {lang}")
    return (
        f"World '{scale}'{kind} (seed {seed}, as of {as_of.isoformat()}) written to {out}: {cat.n_t} trainings "
        f"from {len(cat.p_ids)} providers over {len(builder.occupations.pool)} ESCO occupations, "
        f"{_with_future_session(builder)} with a future session; {pop.n_h} holders with "
        f"{written.experience_rows} experience rows; {written.interactions_rows} interactions ({ev['view']} views, "
        f"{ev['enrol']} enrolments, {ev['complete']} completions, {ev['cancel']} cancellations) from "
        f"{builder.window_start.isoformat()} to {as_of.isoformat()}; {len(written.usernames)} demo users; truth in "
        f"{truth_dir.name}/. Generated in {total:.1f} s ({steps})."
    )


def _with_future_session(builder: WorldBuilder) -> int:
    cat = builder.catalogue
    return int((cat.sess_days[cat.sess_ptr[1:] - 1] >= builder.as_of_day).sum())


def _language(lang: str) -> dict[str, object]:
    """What manifest.json says of the language: nothing for English (the manifest of an English world stays as
    it was before worlds had a language), else the language and the occupations it added."""
    return {} if lang == "en" else {"language": lang, "common_trades": [p.strip() for p in COMMON_TRADES]}


def _write_manifest(out: Path, builder: WorldBuilder, scale: str, written: Written) -> None:
    """``manifest.json``: how the world was drawn (scale, seed, as_of, parameters), its counts and the checksums
    of its files."""
    cat, pop = builder.catalogue, builder.population
    counts = {
        "trainings": cat.n_t,
        "providers": len(cat.p_ids),
        "holders": pop.n_h,
        "experience": written.experience_rows,
        "interactions": written.interactions_rows,
        "events": written.events,
        "sessions": len(cat.sess_days),
        "occupations": len(builder.occupations.pool),
        "ledger_movements": written.ledger_movements,
        "trainings_with_future_session": _with_future_session(builder),
    }
    manifest = {
        "generator": "training.datasets.world",
        "generator_version": GENERATOR_VERSION,
        "scale": scale,
        "seed": builder.seed,
        "as_of": builder.as_of.isoformat(),
        "variant": builder.variant.manifest(),
        **_language(builder.lang),
        "window": {"start": builder.window_start.isoformat(), "end_exclusive": builder.as_of.isoformat()},
        "scale_parameters": asdict(builder.scale),
        "utility_weights": asdict(builder.variant.weights),
        "process": {
            "view_temperature": builder.variant.view_temperature,
            "enrol_noise_sd": builder.variant.enrol_noise_sd,
            "enrol_rate": ENROL_RATE,
            "enrol_threshold": round(builder.interactions.threshold, 6),
            "max_enrolments": MAX_ENROLMENTS,
            "min_days_before_session": MIN_DAYS_BEFORE_SESSION,
            "max_days_before_session": MAX_DAYS_BEFORE_SESSION,
        },
        "counts": counts,
        "files": {name: sha256(out / name) for name in (*FILE_ORDER, DEMO_USERS)},
        "demo_users": {"password_rule": "demo-<username>", "usernames": written.usernames},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
