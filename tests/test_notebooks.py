"""Every notebook runs top to bottom in a real Jupyter kernel (nbclient + ipykernel), with small
parameters injected after its ``parameters`` cell, as papermill does; any cell error fails the test.

Each takes the user's settings (an ``OVERRIDES`` list, ``SEED``, ``OUT_DIR``): the tests pass
``data.currency=EUR`` and check that the notebook says EUR, that its files land in ``OUT_DIR``
(never in the data folder) and that its texts name the interval its tables show.

The kernel is this interpreter's: a kernel spec pointing at ``sys.executable`` is written into a
temporary folder, so the test never picks up some other ``python3`` kernel installed on the machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the `notebooks` extra is not installed")
nbclient = pytest.importorskip("nbclient", reason="the `notebooks` extra is not installed")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SMALL_BOOK = ["data.synthetic.n_accounts=300", "data.synthetic.history_months=24"]
EUR = "data.currency=EUR"

#: Parameters that make each notebook take seconds, not minutes (the defaults are for people).
SMALL = {
    "01_fit_and_diagnose": {
        "N_ACCOUNTS": 150, "HISTORY_MONTHS": 24, "FIT_DRAWS": 100, "FIT_TUNE": 100, "CHAINS": 2,
        "OVERRIDES": [EUR],
    },
    "02_scenarios_and_frontier": {
        "DRAWS": 30, "SCENARIOS": ["baseline", "downturn"], "BUDGETS": [600000, 900000],
        "AE_PER_SE": [2, 4], "OVERRIDES": [*SMALL_BOOK, "sim.horizon_months=24", EUR],
    },
    "03_account_drilldown": {
        "DRAWS": 100, "OVERRIDES": [*SMALL_BOOK, "sim.horizon_months=15", EUR],
    },
    "04_backtest": {
        "N_ACCOUNTS": 150, "HISTORY_MONTHS": 24, "HOLDOUT": 6, "DRAWS": 100, "FIT_DRAWS": 100,
        "FIT_TUNE": 100, "OVERRIDES": ["fit.chains=1", "fit.allow_bad=true", EUR],
    },
}  # fmt: skip


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def parameters_cell(nb) -> int:
    """Index of the first code cell, which must carry the ``parameters`` tag."""
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    assert "parameters" in nb.cells[first].metadata.get("tags", []), "tag the first code cell"
    return first


def inject(nb, values: dict) -> None:
    """Insert a cell that overrides ``values`` right after the parameters cell."""
    index = parameters_cell(nb)
    for name in values:  # an override of a name the notebook does not define would do nothing
        assert f"{name} =" in nb.cells[index].source, f"{name} is not a parameter"
    source = "# injected by tests/test_notebooks.py\n" + "\n".join(
        f"{name} = {value!r}" for name, value in values.items()
    )
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    cell["id"] = "injected-parameters"
    nb.cells.insert(index + 1, cell)


@pytest.fixture(scope="session")
def kernel_name(tmp_path_factory) -> tuple[str, Path]:
    """A kernel spec for this interpreter (ipykernel in the venv), in a private folder."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name="simengine-tests", prefix=str(prefix))
    return "simengine-tests", prefix / "share" / "jupyter" / "kernels"


def execute(path: Path, values: dict, kernel: tuple[str, Path], cwd: Path, monkeypatch):
    """Run the notebook at ``path`` with ``values`` injected; return the executed notebook."""
    from jupyter_client.kernelspec import KernelSpecManager

    name, folder = kernel
    # Found first on JUPYTER_PATH; nbclient then owns the kernel and shuts it (and its sockets)
    # down itself.
    monkeypatch.setenv("JUPYTER_PATH", str(folder.parent))
    spec = KernelSpecManager().get_kernel_spec(name)
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()
    nb = nbformat.read(path, as_version=4)
    inject(nb, values)
    client = nbclient.NotebookClient(
        nb, kernel_name=name, timeout=600, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()  # raises CellExecutionError naming the cell on any error
    return nb


def test_notebooks_are_stripped_and_parameterised():
    paths = notebook_paths()
    assert [p.stem for p in paths] == sorted(SMALL), "a notebook without small parameters"
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert not any(c.outputs or c.execution_count for c in code), f"{path.name}: strip outputs"
        source = nb.cells[parameters_cell(nb)].source
        # The user's settings: overrides, a seed (1 converges on the shared book), an output folder.
        for name in ("OVERRIDES = []", "SEED = 1", 'OUT_DIR = "outputs/'):
            assert name in source, (path.name, name)
        # Prose for its reader, not just code: every notebook opens with a markdown cell.
        assert nb.cells[0].cell_type == "markdown", path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_notebook_runs_in_a_kernel(path: Path, kernel_name, tmp_path, monkeypatch):
    nb = execute(path, SMALL[path.stem], kernel_name, tmp_path, monkeypatch)
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    # Each notebook's answers are charts: a run that drew none has silently skipped its point.
    assert len(images) >= 2, f"{path.name}: {len(images)} charts"
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    # data.currency reached the notebook: it says what money is in.
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "EUR" in printed, path.name
    out_dir = tmp_path / "outputs"
    assert out_dir.is_dir() and any(out_dir.rglob("*")), f"{path.name}: nothing in OUT_DIR"
    if path.stem == "01_fit_and_diagnose":
        # The posterior goes into OUT_DIR, not into the data folder it was fitted on.
        fit_dir = out_dir / "01_fit"
        assert (fit_dir / "posterior.nc").is_file() and (fit_dir / "diagnostics.csv").is_file()
        assert not list((fit_dir / "synthetic_book").glob("posterior*"))
        # The text names the interval az.summary shows.
        summary = next(c for c in nb.cells if "az.summary(" in c.source)
        shown = "".join(str(o.get("data", {})) for o in summary.outputs)
        prose = "".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert "eti90_lb" in shown and "eti90" in prose and "94%" not in prose
