"""The flagship study on the default synthetic controls meets the ground truth (minutes)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from motionprobe.stats import share_ci

STUDY = Path(__file__).resolve().parents[1] / "studies" / "what_makes_a_video.py"


@pytest.mark.slow
def test_what_makes_a_video_on_the_default_controls(tmp_path):
    spec = importlib.util.spec_from_file_location("what_makes_a_video", STUDY)
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    out = tmp_path / "study"
    # The generator and the k-frame curve have their own smoke test (test_studies.py); this
    # one checks the trained default against the ground truth.
    report = study.main(["--out", str(out), "--no-generator", "--frames", "1", "--seeds", "0,1,2"])

    for name in ("predictions.parquet", "per_class.csv", "taxonomy.csv", "config.json"):
        assert (out / name).is_file(), name
    assert (out / "figures" / "motion_dependence.png").is_file() and report.is_file()

    result = json.loads((tmp_path / "models" / "c3d" / "result.json").read_text())
    assert result["test_acc"] >= 0.95

    classes = json.loads((tmp_path / "synthetic" / "classes.json").read_text())
    cue = {c["name"]: c["cue"] for c in classes}
    partner = {c["name"]: c["reverse_partner"] for c in classes}
    pred = pd.read_parquet(out / "predictions.parquet")
    clean = pred[pred["intervention"] == "clean"]
    assert clean["correct"].mean() >= 0.95

    rev = pred[(pred["intervention"] == "reverse") & pred["label"].map(cue).eq("order")]
    assert (rev["pred"] == rev["label"].map(partner)).mean() >= 0.8

    per_class = pd.read_csv(out / "per_class.csv")
    frozen = per_class[per_class["intervention"] == "freeze"].set_index("class")
    moving = [c for c in frozen.index if cue[c] in ("motion", "order")]
    assert frozen.loc[moving, "drop"].mean() >= 0.5
    # Every motion/order class but the one without any motion (freezing it changes nothing).
    assert (frozen.loc[[c for c in moving if c != "still"], "drop"] >= 0.5).all()

    taxonomy = pd.read_csv(out / "taxonomy.csv").set_index("class")
    expected = {
        "appearance": "single_frame",
        "motion": "bag_of_frames",
        "order": "ordered_sequence",
    }
    agree = sum(taxonomy.loc[c, "verdict"] == expected[cue[c]] for c in cue)
    assert agree >= 0.9 * len(cue)
    # The motionless class keeps its frozen clips but is a sink.
    assert taxonomy.loc["still", "verdict"] != "single_frame"
    assert bool(taxonomy.loc["still", "sink"])
    # The headline share of single-frame classes holds the true share in its CI.
    share, low, high = share_ci((taxonomy["verdict"] == "single_frame").to_numpy())
    true = sum(c == "appearance" for c in cue.values()) / len(cue)
    assert low <= true <= high, (share, low, high, true)
