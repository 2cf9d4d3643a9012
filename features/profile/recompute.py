"""Recompute-and-store: one holder's profile on every change of a declaration, many holders' in chunks (the
importer, bulk jobs) with progress, optional commits per chunk and timings per phase."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session
from tqdm import tqdm

from features.profile.build import PhaseClock, build_profile, build_profiles, default_today
from features.profile.embedding import embed_profiles
from features.profile.matching import Matcher
from features.profile.model import Profile
from features.profile.store import store_profiles, stored_profile
from parcours.store.models import HolderProfile

# Holders per chunk of a bulk recompute: a few queries, one batched ESCO matching of free texts and one bulk
# write per chunk (1,000 ids stay well under SQLite's bound-parameter limit of an ``IN``).
RECOMPUTE_CHUNK_HOLDERS = 1_000


def recompute_profiles(
    session: Session,
    holder_ids: Sequence[str],
    *,
    today: dt.date | None = None,
    show_progress: bool = True,
    chunk_size: int = RECOMPUTE_CHUNK_HOLDERS,
    commit_chunks: bool = False,
    timings: dict[str, float] | None = None,
    matcher: Matcher | None = None,
) -> int:
    """Recompute and store the profiles of many holders (importer, bulk jobs); returns how many.

    Holders go by chunks of ``chunk_size``: a few queries read a chunk's declarations, completed trainings and
    exclusions, its free texts are matched to ESCO in batches (the matches are kept for later chunks), its
    profile embeddings are taken from the ESCO skill vectors (``profile_embedding``), and its rows are written
    with one delete and bulk inserts. A holder never spans two chunks, so each holder is written whole or not
    at all.

    Transactions: by default everything runs in the caller's transaction (all or nothing). With
    ``commit_chunks`` each chunk is committed as it is done: a failure rolls back only the chunk in progress
    (its holders keep their previous profile), the finished chunks stay, and long runs do not hold one write
    transaction for many minutes (on SQLite that would block every other writer).

    ``timings``, when given, receives the seconds per phase: ``read``, ``match``, ``build``, ``embed``,
    ``write`` (benchmarks). A ``matcher`` passed in keeps its matches across calls (resumable bulk jobs).
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    ids = list(dict.fromkeys(holder_ids))
    today = today or default_today()
    matcher = matcher or Matcher()
    with tqdm(total=len(ids), desc="skills profiles", unit="holder", disable=not show_progress) as bar:
        for start in range(0, len(ids), chunk_size):
            chunk = ids[start : start + chunk_size]
            profiles = build_profiles(session, chunk, today=today, matcher=matcher, timings=timings)
            clock = PhaseClock(timings)
            embed_profiles(profiles)
            clock.lap("embed")
            store_profiles(session, profiles)
            if commit_chunks:
                session.commit()
            clock.lap("write")
            bar.update(len(chunk))
    return len(ids)


def recompute_profile(session: Session, holder_id: str, *, today: dt.date | None = None) -> Profile:
    """Recompute and store one holder's profile: called on every add/edit/delete of a declaration."""
    profile = build_profile(session, holder_id, today=today)
    embed_profiles([profile])
    store_profiles(session, [profile])
    return profile


def ensure_profile(session: Session, holder_id: str) -> Profile:
    """The stored profile, computed and stored first if it never was (e.g. holders loaded by an import)."""
    if session.get(HolderProfile, holder_id) is None:
        recompute_profile(session, holder_id)
    return stored_profile(session, holder_id)
