"""motionprobe validate: train, probe and score an architecture on the control families."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from motionprobe.cli import main as cli
from motionprobe.studies import make_report
from motionprobe.studies.probe_validity import validate

pytestmark = pytest.mark.slow  # every test here takes seconds to minutes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "studies"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("validity")
    result = validate("c3d_tiny", out, families=("swarm",), seeds=(0, 1), smoke=True,
                      progress=False)  # fmt: skip
    return out, result


def test_validate_writes_agreement_misses_and_a_report(run):
    out, result = run
    folder = out / "c3d_tiny"
    assert result["out"] == str(folder) and set(result["verdict_agreement"]) == {"swarm"}
    table = pd.read_csv(folder / "agreement.csv")
    assert set(table["axis"]) == {"verdict", "sufficient", "order", "cue_preference"}
    assert set(table["seed"]) == {0, 1} and (table["classes"] == 6).all()
    assert ((table["share"] >= 0) & (table["share"] <= 1)).all()
    assert (table["wrong"] <= table["committed"]).all()
    assert (table["wrong_stable"] <= table["wrong"]).all()
    assert (table["committed"] <= table["classes"]).all()
    tax = pd.read_csv(folder / "taxonomy.csv")
    assert {"seed_agreement", "stability", "stable", "family", "seed"} <= set(tax.columns)
    assert len(tax) == 12  # six smoke classes x two seeds
    misses = pd.read_csv(folder / "misses.csv")
    verdict_misses = misses[misses["axis"] == "verdict"]
    ok = table[table["axis"] == "verdict"]
    assert len(verdict_misses) == int((ok["classes"] - ok["agree"]).sum())
    truth = json.loads((out / "data" / "swarm_32px_smoke" / "classes.json").read_text())
    assert {t["name"] for t in truth} == set(tax["class"])
    text = (folder / "report.md").read_text()
    assert "c3d_tiny" in text and "| swarm |" in text and "## Stability" in text
    assert "wrong verdicts of those given" in text
    assert (folder / "figures" / "agreement.png").is_file()
    config = json.loads((folder / "config.json").read_text())
    assert config["study"] == "probe_validity" and config["rule"]["min_drop"] == 0.2


def test_validate_resumes_and_reports_from_files(run):
    out, _ = run
    folder = out / "c3d_tiny"
    ckpt = folder / "swarm" / "seed0" / "train" / "checkpoints" / "best.pt"
    stamp = ckpt.stat().st_mtime_ns
    again = validate("c3d_tiny", out, families=("swarm",), seeds=(0, 1), smoke=True,
                     progress=False)  # fmt: skip
    assert ckpt.stat().st_mtime_ns == stamp  # reused, not retrained
    assert again["verdict_agreement"] == run[1]["verdict_agreement"]
    (folder / "report.md").unlink()
    assert make_report(folder) == folder / "report.md"


def test_cli_and_study_share_the_runs(run, capsys):
    out, _ = run
    code = cli(["validate", "--model", "c3d_tiny", "--out", str(out), "--families", "swarm",
                "--seeds", "0", "--smoke"])  # fmt: skip
    assert code == 0 and "validate c3d_tiny: verdicts right on swarm" in capsys.readouterr().out
    import probe_validity

    path = probe_validity.main(["--models", "c3d_tiny", "--families", "swarm", "--seeds", "0",
                                "--smoke", "--out", str(out)])  # fmt: skip
    summary = pd.read_csv(path)
    assert set(summary["model"]) == {"c3d_tiny"} and set(summary["family"]) == {"swarm"}
    assert cli(["validate", "--model", "c3d_tiny", "--families", "nope", "--out", str(out)]) == 3
    assert "unknown control family 'nope'" in capsys.readouterr().err
