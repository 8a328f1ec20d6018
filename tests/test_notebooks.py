"""The notebooks run top to bottom (code cells executed in order, outputs discarded)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path):
    import matplotlib.pyplot as plt

    cells = json.loads(path.read_text())["cells"]
    assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code"), "strip outputs"
    namespace: dict = {}
    for cell in cells:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path.name}", "exec"), namespace)  # noqa: S102
    plt.close("all")
