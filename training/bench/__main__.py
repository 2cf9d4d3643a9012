"""Run the benchmarks and rewrite ``docs/benchmarks.md``.

``python -m training.bench [--only NAME ...] [--out docs/benchmarks.md]``. Each benchmark's section sits between
``<!-- bench:NAME -->`` markers, so running one benchmark replaces only its own section.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import platform
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = Path("data/bench")


def discover() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))


def _header() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=False).stdout.strip()
    except OSError:
        commit = "unknown"
    return (
        "# Benchmarks\n\n"
        "Written by `make bench` (`python -m training.bench`); each section is rewritten by its own benchmark.\n"
        "Speed is quoted as ratios against a baseline run in the same process, absolute times as context only.\n\n"
        f"Last written: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, "
        f"{platform.machine()}, Python {platform.python_version()}.\n"
    )


def write_section(out: Path, name: str, body: str) -> None:
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    block = f"<!-- bench:{name} -->\n{body.strip()}\n<!-- /bench:{name} -->"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    body_only = re.sub(r"\A# Benchmarks.*?(?=<!-- bench:|\Z)", "", text, flags=re.S)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_header() + "\n" + body_only.lstrip(), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help=f"benchmarks to run (default all: {', '.join(discover())})")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR, help="scratch folder for worlds and indexes")
    args = parser.parse_args(argv)
    names = args.only or discover()
    failures = 0
    for name in names:
        started = time.perf_counter()
        print(f"== bench {name}", flush=True)
        try:
            module = importlib.import_module(f"training.bench.bench_{name}")
            body = module.run(args.work_dir)
        except Exception:  # noqa: BLE001 - one failing benchmark must not hide the others
            failures += 1
            body = f"## {name}\n\nFailed:\n\n```\n{traceback.format_exc()}\n```"
        write_section(args.out, name, body)
        print(f"== bench {name} done in {time.perf_counter() - started:.0f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
