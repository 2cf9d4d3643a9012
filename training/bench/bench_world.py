"""Benchmark of the synthetic world generator: wall time and peak memory per scale.

Each scale runs in its own process (``parcours world generate``) so its peak resident memory is measured alone
(``getrusage(RUSAGE_CHILDREN)`` after the child exits); counts come from the world's ``manifest.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

AS_OF = dt.date(2025, 11, 1)
SEED = 0


def measure(scale: str, out: Path) -> dict[str, object]:
    """Generate one world in a child process; returns counts, wall time (s) and peak memory (MiB)."""
    command = [
        sys.executable,
        "-m",
        "parcours.cli",
        "world",
        "generate",
        "--scale",
        scale,
        "--seed",
        str(SEED),
        "--out",
        str(out),
        "--as-of",
        AS_OF.isoformat(),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    start = time.perf_counter()
    pid = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).pid
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"world generation failed for scale {scale}: {' '.join(command)}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "scale": scale,
        "counts": manifest["counts"],
        "wall_s": wall,
        "peak_mib": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "size_mib": size / 2**20,
    }


def run(out_dir: Path, scales: tuple[str, ...] = ("tiny", "small", "large")) -> str:
    """Markdown section: one row per scale (the large world takes minutes)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [measure(scale, out_dir / f"world-{scale}") for scale in scales]
    lines = [
        "## Synthetic world generation",
        "",
        f"`parcours world generate --seed {SEED} --as-of {AS_OF.isoformat()}` per scale, in a child process "
        f"({os.cpu_count()} CPUs visible). Peak memory is the child's maximum resident set size.",
        "",
        "| scale | trainings | holders | interactions | enrolments | wall time | CPU time | peak memory "
        "| on disk |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        counts = row["counts"]
        assert isinstance(counts, dict)
        lines.append(
            f"| {row['scale']} | {counts['trainings']:,} | {counts['holders']:,} | "
            f"{counts['interactions']:,} | "
            f"{counts['events']['enrol']:,} | {row['wall_s']:.1f} s | {row['cpu_s']:.1f} s | "
            f"{row['peak_mib']:,.0f} MiB | {row['size_mib']:,.0f} MiB |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(run(Path(tmp), tuple(sys.argv[1:]) or ("tiny", "small")))
