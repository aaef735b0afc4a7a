"""The attribution_over_time study: a smoke run end to end, and its report from the tables alone."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # every test here takes seconds to minutes

STUDY = Path(__file__).resolve().parents[1] / "studies" / "attribution_over_time.py"
MODELS = ("c3d", "i3d_two_stream")


def load_study():
    spec = importlib.util.spec_from_file_location("attribution_over_time", STUDY)
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    return study


@pytest.fixture(scope="module")
def smoke_run(study_root) -> Path:
    out = study_root / "attribution_over_time"
    report = load_study().main(["--smoke", "--out", str(out)])
    assert report == out / "report.md"
    return out


def test_tables_per_model(smoke_run):
    out = smoke_run
    classes = json.loads((out.parent / "synthetic_smoke" / "classes.json").read_text())
    cues = {c["name"]: c["cue"] for c in classes}
    config = json.loads((out / "config.json").read_text())
    assert config["study"] == "attribution_over_time" and list(config["checkpoints"]) == [*MODELS]
    assert config["study_params"]["smoke"] is True
    for model in MODELS:
        summary = pd.read_csv(out / model / "class_summary.csv")
        assert sorted(summary["class"]) == sorted(cues)  # one row per class
        assert dict(zip(summary["class"], summary["cue"], strict=True)) == cues
        assert summary["temporal_share"].between(0, 1).all()
        flow = summary["flow_share"]
        assert flow.between(0, 1).all() if model == "i3d_two_stream" else flow.isna().all()
        profiles = pd.read_csv(out / model / "class_profiles.csv")
        streams = {"all", "rgb", "flow"} if model == "i3d_two_stream" else {"all"}
        assert set(profiles["stream"]) == streams
        sums = profiles.groupby(["stream", "class"])["mean"].sum()
        assert len(sums) == len(streams) * len(cues) and np.allclose(sums, 1.0)
        clips = pd.read_csv(out / model / "clips.csv")
        assert len(clips) == len(cues) and clips["temporal_share"].between(0, 1).all()


def test_figures_and_report(smoke_run):
    out = smoke_run
    for stem in ["motion_share"] + [f"profiles_{m}_{c}" for m in MODELS for c in ("appearance",)]:
        for suffix in (".png", ".svg"):
            assert (out / "figures" / f"{stem}{suffix}").stat().st_size > 1000, stem + suffix
    text = (out / "report.md").read_text()
    assert text.startswith("# Where in time the evidence lies")
    for section in ("## What was run", "## Findings", "## Sanity checks", "## Per class"):
        assert section in text
    # Every linked figure and montage exists.
    links = re.findall(r"\]\(([^)]+\.(?:png|svg))\)", text)
    assert any("montage_" in link for link in links)
    assert all((out / link).is_file() for link in links)
    # The findings quote the tables: the appearance classes' mean temporal share of C3D.
    summary = pd.read_csv(out / "c3d" / "class_summary.csv")
    mean = summary.loc[summary["cue"] == "appearance", "temporal_share"].mean()
    assert f"appearance classes {100 * mean:.1f} %" in text
    assert "randomisation" in text.lower() and "completeness" in text.lower()


def test_report_rerenders_from_the_tables_alone(smoke_run, tmp_path, monkeypatch):
    from motionprobe.studies import make_report

    # The package re-exports the functions train and attribute under the modules' names.
    train_module = importlib.import_module("motionprobe.train")
    attribution_module = importlib.import_module("motionprobe.attribution")

    out = tmp_path / "copy"
    shutil.copytree(smoke_run, out)
    before = (out / "report.md").read_text()
    shutil.rmtree(out / "figures")
    (out / "report.md").unlink()

    def refuse(*args, **kwargs):
        raise AssertionError("the report must not run a model")

    monkeypatch.setattr(train_module, "load_checkpoint", refuse)
    monkeypatch.setattr(attribution_module, "attribute", refuse)
    # The dataset is gone too: the cues come from the saved tables.
    shutil.move(smoke_run.parent / "synthetic_smoke", tmp_path / "elsewhere")
    try:
        report = make_report(out)
    finally:
        shutil.move(tmp_path / "elsewhere", smoke_run.parent / "synthetic_smoke")
    assert report.read_text() == before
    assert (out / "figures" / "motion_share.png").is_file()
    assert (out / "figures" / "motion_share.svg").is_file()


def test_report_of_many_classes_without_cues_stays_readable(tmp_path):
    """400 classes, no ground truth: one profile page of the 12 least flat, readable labels."""
    from motionprobe import plots
    from motionprobe.io import write_csv, write_json
    from motionprobe.studies.attribution_over_time import attribution_report

    rng = np.random.default_rng(0)
    classes = [f"action {i:03d}" for i in range(400)]
    t = 8
    run = tmp_path / "many" / "i3d"
    shares = rng.uniform(0, 1, 400)
    write_csv(
        run / "class_summary.csv",
        pd.DataFrame(
            {
                "class": classes,
                "n": 1,
                "entropy": rng.uniform(0.8, 1, 400),
                "temporal_share": shares,
                "temporal_share_sem": np.nan,
                "flow_share": rng.uniform(0, 1, 400),
                "flow_share_sem": np.nan,
            }
        ),
    )
    profiles = rng.dirichlet(np.ones(t) * 5, 400)
    write_csv(
        run / "class_profiles.csv",
        pd.DataFrame(
            [
                ("all", c, f, profiles[i, f], np.nan, 1)
                for i, c in enumerate(classes)
                for f in range(t)
            ],
            columns=["stream", "class", "frame", "mean", "sem", "n"],
        ),
    )
    write_csv(
        run / "clips.csv",
        pd.DataFrame({"video_id": classes, "label": classes, "pred": classes, "target": classes}),
    )
    sanity = {
        "randomisation": {
            "method": "saliency",
            "correlation": 0.1,
            "threshold": 0.5,
            "passed": True,
        },
        "ig_completeness": {"median_relative_error": 0.01, "max_relative_error": 0.02},
    }
    write_json(run / "sanity.json", sanity)
    report = attribution_report(tmp_path / "many")
    text = report.read_text()
    assert "Highest: " in text and text.count("\n| action ") == 400  # the per-class table
    assert sorted(p.name for p in (tmp_path / "many" / "figures").glob("*.png")) == [
        "motion_share.png",
        "profiles_i3d.png",
    ]

    measures = pd.DataFrame({"class": classes, "measure": "i3d: temporal share", "share": shares})
    measures["sem"] = np.nan
    fig = plots.motion_share_plot(measures)
    labels = fig.axes[0].get_yticklabels()
    assert len(labels) == 400 and labels[0].get_text() == classes[int(np.argmax(shares))]
    assert labels[0].get_fontsize() >= 5
    # Enough height per row for the labels not to overlap (at 150 dpi, as saved).
    assert fig.get_figheight() * 72 / 400 >= labels[0].get_fontsize()
