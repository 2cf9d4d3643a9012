"""The data scientists' notebooks run end to end on the tiny world, and record what the code computes.

Each notebook is executed from its jupytext ``.py`` (the reviewed source) in a kernel of this interpreter, with
its parameters in the environment; the metrics it records must equal those computed here with the same code,
and every ``.ipynb`` must hold exactly the cells of its ``.py`` (so the pair cannot drift).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

# the session's tiny world (tests/conftest.py), built once per xdist worker
pytestmark = pytest.mark.xdist_group("tiny_world")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
REPO = NOTEBOOKS.parent
PAIRED = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
SEED = 0
MAX_HOLDERS = 8  # fewer than the tiny world's held-out holders: the notebook must sample as the pipeline does
KERNEL = "parcours-test"


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Jupyter data folder holding a kernelspec of this very interpreter (``sys.executable``)."""
    from ipykernel.kernelspec import install
    from jupyter_client.kernelspec import KernelSpecManager

    prefix = tmp_path_factory.mktemp("kernelspec")
    install(kernel_name=KERNEL, prefix=str(prefix))
    data_dir = prefix / "share" / "jupyter"
    spec = KernelSpecManager(kernel_dirs=[str(data_dir / "kernels")]).get_kernel_spec(KERNEL)
    assert spec.argv[0] == sys.executable
    return str(data_dir)


def run_notebook(name: str, kernel_path: str, parameters: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Execute ``notebooks/<name>.py`` from the notebooks folder, as Jupyter would; raise on any cell error."""
    import jupytext
    from nbclient import NotebookClient

    for key, value in parameters.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(filter(None, [kernel_path, os.environ.get("JUPYTER_PATH")])))
    # The kernel imports this checkout's packages, whatever is installed in the environment.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    # One OpenMP thread, in the kernel as in the direct computation below: on a few busy shared cores, gradient
    # boosting with a thread per core crawls (tiny world's fit measured at 15 s against 0.8 s on one thread).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = jupytext.read(NOTEBOOKS / f"{name}.py")
    NotebookClient(notebook, kernel_name=KERNEL, timeout=900,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors
    shown = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
             if "image/png" in output.get("data", {})]
    assert shown, "figures are shown inline"


@pytest.mark.parametrize("source", PAIRED, ids=lambda path: path.stem)
def test_ipynb_holds_the_cells_of_its_py(source: Path) -> None:
    import jupytext
    import nbformat

    paired = source.with_suffix(".ipynb")
    assert paired.is_file(), f"{paired.name} missing: run `jupytext --sync {source.relative_to(REPO)}`"
    committed = nbformat.read(paired, as_version=4)
    expected = jupytext.read(source)
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in expected.cells]
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "commit the .ipynb without outputs"
    assert committed.metadata.get("kernelspec", {}).get("name") == "python3"


def test_both_notebooks_are_paired() -> None:
    assert [p.name for p in PAIRED] == ["01_explore_world.py", "02_evaluate_and_compare.py"]


def test_explore_world_notebook(tiny_world: tuple[Path, str], kernel_path: str, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _url = tiny_world
    out = tmp_path / "figures"
    run_notebook("01_explore_world", kernel_path, {"PARCOURS_NB_WORLD": str(folder), "PARCOURS_NB_OUT": str(out)},
                 monkeypatch)
    expected = {"01_catalogue.png", "01_interactions_over_time.png", "01_funnel.png", "01_provider_completion.png",
                "01_balances.png", "01_signal.png"}
    assert {p.name for p in out.glob("*.png")} == expected
    assert all((out / name).stat().st_size > 5_000 for name in expected)


def test_evaluate_notebook_records_the_metrics_the_pipeline_computes(
    tiny_world: tuple[Path, str], kernel_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from threadpoolctl import threadpool_limits

    from training.pipeline import fit_and_evaluate, prepare

    folder, url = tiny_world
    out = tmp_path / "figures"
    run_notebook("02_evaluate_and_compare", kernel_path, {
        "PARCOURS_NB_DB_URL": url, "PARCOURS_NB_WORLD": str(folder), "PARCOURS_NB_OUT": str(out),
        "PARCOURS_NB_SEED": str(SEED), "PARCOURS_NB_MAX_HOLDERS": str(MAX_HOLDERS),
        "PARCOURS_NB_PERMUTATION_REPEATS": "2",
        # an MLflow store that does not exist: the optional champion cell must pass without creating it
        "PARCOURS_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }, monkeypatch)
    assert {p.name for p in out.glob("*.png")} == {"02_metrics.png", "02_permutation_importance.png",
                                                   "02_calibration.png"}
    assert not (tmp_path / "mlflow.db").exists()
    recorded = json.loads((out / "02_metrics.json").read_text(encoding="utf-8"))

    with threadpool_limits(limits=1, user_api="openmp"):
        _bundle, report = fit_and_evaluate(prepare(url, show_progress=False), seed=SEED, truth_dir=folder,
                                           max_holders=MAX_HOLDERS)
    assert (recorded["k"], recorded["holders"], recorded["cut"]) == (report["k"], report["holders"], report["cut"])
    assert recorded["holders"] <= MAX_HOLDERS
    assert set(recorded["metrics"]) == set(report["metrics"])
    for metric, values in report["metrics"].items():
        assert set(recorded["metrics"][metric]) == {"model", "neutral", "popularity", "content", "cooccurrence", "als",
                                                    "oracle"}
        for method, value in values.items():
            assert recorded["metrics"][metric][method] == pytest.approx(value, abs=1e-6), (metric, method)
    ndcg = recorded["metrics"]["ndcg@10"]
    assert ndcg["oracle"] >= ndcg["model"]
    best = max(value for name, value in ndcg.items() if name not in ("model", "oracle"))
    assert recorded["model_over_best_baseline"]["ndcg@10"] == pytest.approx(ndcg["model"] / best, rel=1e-5)
    assert recorded["model_over_oracle"]["ndcg@10"] == pytest.approx(ndcg["model"] / ndcg["oracle"], rel=1e-5)
    assert recorded["champion"]["ndcg@10"] is None
