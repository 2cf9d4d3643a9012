"""The one-way layers of ARCHITECTURE.md, checked by import-linter (the contract in pyproject.toml).

``make lint`` runs ``lint-imports``; these tests run it too, on the tree as it is and on a copy with one import
added the wrong way, so a contract that stopped catching anything would fail here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("parcours", "ingest", "features", "recommender", "training", "serving")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the copy's packages shadow the installed (editable) ones
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=120)


def _copy_tree(to: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, to / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.npz",
                                                                                    "*.gz", "*.csv"))
    shutil.copy(ROOT / "pyproject.toml", to / "pyproject.toml")
    return to


def test_the_tree_keeps_its_layers() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "wrong_way_import"),
    [
        ("features/catalogue.py", "from serving.app import create_app"),  # features reaching up to the web app
        ("parcours/store/bulk.py", "import features.esco"),  # the store reaching up to features
        ("recommender/served.py", "import training.fit"),  # the server's model reaching into training code
        ("serving/app.py", "import training.registry"),  # serving and training are independent
    ],
)
def test_one_wrong_way_import_fails_the_lint(tmp_path: Path, module: str, wrong_way_import: str) -> None:
    tree = _copy_tree(tmp_path / "tree")
    with (tree / module).open("a", encoding="utf-8") as handle:
        handle.write(f"\n\ndef _wrong_way() -> None:\n    {wrong_way_import}  # noqa\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and wrong_way_import.split()[1] in result.stdout
