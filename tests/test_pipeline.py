"""End to end on a small synthetic set: train, resume, probe (with a bad video), report, CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from motionprobe.cli import EXIT_ERROR, main
from motionprobe.data.synthetic import synthesize
from motionprobe.models.checkpoint import load_checkpoint
from motionprobe.probes import engine, run_probe
from motionprobe.studies import make_report
from motionprobe.train import TrainConfig, train
from motionprobe.types import VERDICTS

CLASSES = ["red_object", "still", "move_right", "move_left"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "data"
    synthesize(root, 8, 2, 4, classes=CLASSES, progress=False)
    # One unusable test video (zero bytes) listed in the CSV: it must be skipped and reported.
    bad = root / "test" / "still" / "broken0000_000000_000002.mp4"
    bad.write_bytes(b"")
    with open(root / "test.csv", "a") as f:
        f.write("still,broken0000,0,2,test\n")
    return root


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = train(TrainConfig(data=str(data), out=str(out), epochs=2), progress=False)
    return out, result


@pytest.mark.slow
def test_training_writes_checkpoints_metrics_and_resumes(run, data):
    out, result = run
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["epoch"]) == [1, 2]
    model, ckpt = load_checkpoint(out / "checkpoints" / "best.pt")
    assert ckpt["classes"] == sorted(CLASSES) and ckpt["model"] == "c3d_tiny"
    assert {"preset", "config", "metrics", "state_dict"} <= set(ckpt)
    assert not model.training
    last = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert last["epoch"] == 1 and "optimizer" in last
    # The zero-byte test video is listed, with its reason, not silently dropped.
    bad = pd.read_csv(out / "bad_items.csv")
    assert bad["video_id"].str.contains("broken0000").any()
    # Resume: asking for 3 epochs runs only the third.
    train(TrainConfig(data=str(data), out=str(out), epochs=3), progress=False)
    assert list(pd.read_csv(out / "metrics.csv")["epoch"]) == [1, 2, 3]


def test_probe_tables_follow_the_contract(run, data, tmp_path):
    out, result = run
    summary = run_probe(
        result["checkpoint"],
        data,
        tmp_path / "probe",
        interventions=["freeze", "shuffle", "reverse"],
        seeds=[0, 1],
        progress=False,
    )
    pred = pd.read_parquet(tmp_path / "probe" / "predictions.parquet")
    assert list(pred.columns[: len(engine.COLUMNS)]) == engine.COLUMNS
    assert pred.columns[len(engine.COLUMNS)] == "name"
    clips = 4 * len(CLASSES)  # the broken video is not among them
    counts = pred["intervention"].value_counts().to_dict()
    assert counts == {"clean": clips, "freeze": clips, "shuffle": 2 * clips, "reverse": clips}
    assert set(pred["label"]) == set(CLASSES) and summary.bad_items == 1
    assert "broken0000" in (tmp_path / "probe" / "bad_items.csv").read_text()
    per_class = pd.read_csv(tmp_path / "probe" / "per_class.csv")
    for col in ("n", "acc", "acc_clean", "drop", "ci_low", "ci_high", "p_value", "q_value"):
        assert col in per_class.columns
    assert set(pd.read_csv(tmp_path / "probe" / "taxonomy.csv")["verdict"]) <= set(VERDICTS)
    config = json.loads((tmp_path / "probe" / "config.json").read_text())
    assert {"git_commit", "versions", "manifest_sha256", "seed"} <= set(config)
    report = make_report(tmp_path / "probe")
    assert "verdict" in report.read_text()
    assert (tmp_path / "probe" / "figures" / "motion_dependence.png").stat().st_size > 0
    assert (tmp_path / "probe" / "figures" / "motion_dependence.svg").stat().st_size > 0


@pytest.mark.slow
def test_killed_probe_resumes_to_the_same_table(run, data, tmp_path, monkeypatch):
    _, result = run
    full = tmp_path / "full"
    run_probe(result["checkpoint"], data, full, batch_size=4, progress=False)
    expected = pd.read_parquet(full / "predictions.parquet")

    calls = {"n": 0}
    original = engine._evaluate_batch

    def dies_on_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "_evaluate_batch", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        run_probe(result["checkpoint"], data, tmp_path / "resumed", batch_size=4, progress=False)
    assert len(list((tmp_path / "resumed" / "parts").glob("batch_*.parquet"))) == 2
    monkeypatch.setattr(engine, "_evaluate_batch", original)
    calls["n"] = 0
    run_probe(result["checkpoint"], data, tmp_path / "resumed", batch_size=4, progress=False)
    got = pd.read_parquet(tmp_path / "resumed" / "predictions.parquet")
    key = ["video_id", "clip_index", "intervention", "seed"]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
    )


def test_cli_check_reports_the_bad_video(data, tmp_path, capsys):
    assert main(["check", str(data), "--out", str(tmp_path / "check.csv")]) == 0
    table = pd.read_csv(tmp_path / "check.csv")
    broken = table[table["path"].str.contains("broken0000")]
    assert len(broken) == 1 and not broken["ok"].iloc[0]
    assert "empty" in broken["error"].iloc[0]
    assert "check.csv" in capsys.readouterr().out


def test_cli_errors_are_clear(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "d"), "--classes", "nope"]) == EXIT_ERROR
    assert "unknown classes ['nope'] of the 'squares' family" in capsys.readouterr().err


def test_fine_tune_an_i3d_from_weights_with_another_class_count(data, tmp_path):
    from motionprobe.models import create_model
    from motionprobe.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    source = create_model("i3d_rgb_tiny", num_classes=7)
    save_checkpoint(tmp_path / "src.pt", source, [f"c{i}" for i in range(7)], config={})
    config = TrainConfig(
        model="i3d_rgb_tiny",
        data=str(data),
        out=str(tmp_path / "run"),
        epochs=1,
        lr=1e-9,  # a near-zero step: the loaded weights must still be there after training
        weights=str(tmp_path / "src.pt"),
    )
    result = train(config, progress=False)
    model, ckpt = load_checkpoint(result["checkpoint"])
    assert ckpt["config"]["weights"] == str(tmp_path / "src.pt")
    assert model.Logits.conv.out_channels == len(CLASSES)
    torch.testing.assert_close(
        model.Mixed_4f.b1b.conv.weight, source.Mixed_4f.b1b.conv.weight, atol=1e-6, rtol=0
    )


def test_cli_lists_the_models(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "i3d_two_stream" in out and "rgb+flow" in out and "64 x 224 x 224" in out
