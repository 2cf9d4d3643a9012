"""Benchmarks run by ``make bench``. Each module ``bench_<name>.py`` exposes ``run(out_dir: Path) -> str``
returning one markdown section; numbers are ratios against a baseline run in the same process."""
