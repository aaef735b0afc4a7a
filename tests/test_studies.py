"""The studies run end to end with --smoke, their tables read back, and reports re-render."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from motionprobe.stats import clip_correctness
from motionprobe.studies import make_report

pytestmark = pytest.mark.slow  # every test here takes seconds to minutes

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def run_study(name: str, *args: str) -> Path:
    spec = importlib.util.spec_from_file_location(name, STUDIES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(list(args))


def assert_rerenders(out: Path) -> None:
    """``motionprobe report`` rebuilds the same report and figures from the tables alone."""
    before = (out / "report.md").read_text()
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert pngs and all((out / "figures" / p).with_suffix(".svg").is_file() for p in pngs)
    for p in (out / "figures").iterdir():
        p.unlink()
    (out / "report.md").unlink()
    make_report(out)
    assert (out / "report.md").read_text() == before
    assert sorted(p.name for p in (out / "figures").glob("*.png")) == pngs


def test_what_makes_a_video_smoke(study_root):
    out = study_root / "wmav"
    report = run_study("what_makes_a_video", "--smoke", "--out", str(out))
    assert report == out / "report.md"
    preds = pd.read_parquet(out / "predictions.parquet")
    frames = pd.read_csv(out / "frames.csv")
    # Held and generated fills, plain and selected, at k = 1 and 4.
    assert set(frames["method"]) == {"held frames", "generator"}
    assert set(frames["selection"]) == {"none", "max"}
    assert set(frames["k"]) == {1, 4}
    # The table is the predictions read back: accuracy and the paired drop per condition.
    clips = clip_correctness(preds).set_index(["intervention", "video_id"])["correct"]
    clean = clips.loc["clean"]
    for r in frames.itertuples(index=False):
        acc = clips.loc[r.intervention]
        assert r.acc == pytest.approx(acc.mean())
        assert r.drop == pytest.approx((clean - acc.reindex(clean.index)).mean())
        assert r.ci_low <= r.acc <= r.ci_high
    text = report.read_text()
    assert "## How many frames does the model need?" in text
    assert "![frames](figures/frames.png)" in text and "where_freeze" in text
    assert_rerenders(out)


def test_rgb_vs_flow_gap_smoke(study_root):
    out = study_root / "gap"
    report = run_study("rgb_vs_flow_gap", "--smoke", "--out", str(out))
    accuracy = pd.read_csv(out / "accuracy.csv").set_index("stream")
    gap = pd.read_csv(out / "gap.csv").set_index("class")
    for stream in ("rgb", "flow", "fused"):
        preds = pd.read_parquet(out / stream / "predictions.parquet")
        clean = preds[preds["intervention"] == "clean"]
        assert accuracy.at[stream, "acc"] == pytest.approx(clean["correct"].mean())
        per_class = clean.groupby("label")["correct"].mean()
        assert np.allclose(gap.loc[per_class.index, f"acc_{stream}"], per_class)
    assert np.allclose(gap["gain"], gap["acc_fused"] - gap["acc_rgb"])
    assert np.allclose(gap["flow_minus_rgb"], gap["acc_flow"] - gap["acc_rgb"])
    assert gap["dependence"].notna().all()  # the RGB stream's frozen-frame drop
    assert "Quo Vadis, Kinetics-400 (published, for reference)" in report.read_text()
    assert_rerenders(out)


def test_temporal_taxonomy_smoke(study_root):
    out = study_root / "taxonomy"
    run_study("temporal_taxonomy", "--smoke", "--out", str(out))
    verdicts = pd.read_csv(out / "verdicts.csv")
    models = ["c3d", "i3d_rgb"]
    assert list(verdicts.columns) == ["class", "stratum", *models]
    for m in models:
        tax = pd.read_csv(out / m / "taxonomy.csv").set_index("class")
        assert (verdicts.set_index("class")[m] == tax["verdict"]).all()
    comp = pd.read_csv(out / "composition.csv")
    totals = comp.groupby(["model", "stratum"])["classes"].sum()
    assert (totals.xs("all classes", level="stratum") == len(verdicts)).all()
    per_stratum = verdicts["stratum"].value_counts()
    assert set(per_stratum.index) == {"cue: appearance", "cue: motion", "cue: order"}
    for (_, stratum), n in totals.drop("all classes", level="stratum").items():
        assert n == per_stratum[stratum]
    assert_rerenders(out)


def test_taxonomy_report_stratifies_kinetics_by_the_temporal_static_subsets(tmp_path):
    """On Kinetics-400 class names the verdicts are split by Kowal et al.'s subsets."""
    import json

    from motionprobe.data.kinetics import temporal_static_subsets

    subsets = temporal_static_subsets()
    temporal = [c for c, k in subsets.items() if k == "temporal"][:3]
    static = [c for c, k in subsets.items() if k == "static"][:3]
    classes = [*temporal, *static, "abseiling"]  # the last is in neither subset
    verdicts = {
        "i3d": ["ordered_sequence"] * 3 + ["single_frame"] * 3 + ["inconclusive"],
        "c3d": ["bag_of_frames"] * 3 + ["single_frame", "single_frame", "bag_of_frames", "x"],
    }
    for model, v in verdicts.items():
        run = tmp_path / model
        run.mkdir()
        drop = np.linspace(0.5, 0.0, len(classes))
        pd.DataFrame(
            {"class": classes, "intervention": "freeze", "n": 10, "acc": 0.9 - drop}
        ).assign(acc_clean=0.9, drop=drop, ci_low=drop - 0.1, ci_high=drop + 0.1).to_csv(
            run / "per_class.csv", index=False
        )
        pd.DataFrame({"class": classes, "verdict": v}).to_csv(run / "taxonomy.csv", index=False)
    (tmp_path / "config.json").write_text(
        json.dumps({"study": "temporal_taxonomy", "checkpoints": {"i3d": "a", "c3d": "b"}})
    )
    report = make_report(tmp_path).read_text()
    comp = pd.read_csv(tmp_path / "composition.csv").set_index(["model", "stratum", "verdict"])
    t, s = "temporal subset (Kowal et al.)", "static subset (Kowal et al.)"
    assert comp.loc[("i3d", t, "ordered_sequence"), "classes"] == 3
    assert comp.loc[("i3d", s, "single_frame"), "classes"] == 3
    assert comp.loc[("c3d", s, "single_frame"), "classes"] == 2
    assert comp.loc[("c3d", "all classes", "bag_of_frames"), "classes"] == 4
    wide = pd.read_csv(tmp_path / "verdicts.csv")
    assert list(wide.columns) == ["class", "stratum", "i3d", "c3d"]
    assert wide["stratum"].isna().sum() == 1  # abseiling
    assert f"**{s}**: single_frame share i3d 100.0 %, c3d 66.7 %" in report
    assert (tmp_path / "figures" / "taxonomy_composition.png").is_file()
