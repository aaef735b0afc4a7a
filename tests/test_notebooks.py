"""The notebooks run top to bottom (outputs are not committed)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here takes seconds to minutes

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

#: Per notebook, strings its executed output must contain: each shows it reached its point.
EXPECTED = {
    "01_quickstart.ipynb": ["agrees", "What makes a video a video"],
    "02_what_makes_a_video.ipynb": [
        "held frames",  # the frames table (stats.frames_curve)
        "do not need motion (verdict single_frame",  # share_ci sentence
        "the verdict matches the known cue for",
        "## How many frames does the model need?",  # the report
    ],
    "03_rgb_vs_flow.ipynb": [
        "Quo Vadis K400 (published reference)",  # the paper-layout table
        "Adding flow to RGB changes accuracy by",
        "Appearance classes: RGB",  # per-cue sentence
        "## Findings",  # the study's report
    ],
    "04_attributions.ipynb": [
        "of the attribution mass on the temporal part",
        "randomisation test: rho",
        "Where in time the evidence lies",
        "## Findings",
    ],
    "05_your_model.ipynb": [
        "max difference from torchvision's own transforms: ",
        "inconclusive",  # the taxonomy of the random torchvision model
        "'clean':",  # the Hugging Face and home-made models' accuracies
        "Grad-CAM ran on torchvision:r3d_18",
    ],
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path):
    assert path.name in EXPECTED, f"add the output {path.name} must show to EXPECTED"
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    text = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells
        for o in c.get("outputs", [])
    )
    missing = [s for s in EXPECTED[path.name] if s not in text]
    assert not missing, f"{path.name}: output lacks {missing}"
