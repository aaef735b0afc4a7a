"""Training engine: exact resume after SIGTERM, failure behaviour, recipes, logging, multi-view
evaluation and fusion, and a 2-process gloo run under torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from motionprobe.cli import main
from motionprobe.data.loaders import EpochSampler
from motionprobe.data.synthetic import synthesize
from motionprobe.evaluate import EvalConfig, evaluate_checkpoints
from motionprobe.models.adapter import Target
from motionprobe.recipes import RECIPES
from motionprobe.runs import read_run
from motionprobe.train import TrainConfig, train

# The package re-exports the function train, which shadows the module's name on the package.

CLASSES = ["red_object", "still", "move_right", "move_left"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "data"
    synthesize(root, 6, 2, 2, frames=20, size=32, classes=CLASSES, progress=False)
    return root


def config(data, out, **kwargs) -> TrainConfig:
    base = dict(model="c3d_tiny", epochs=2, batch_size=4, checkpoint_every=2)
    return TrainConfig(data=str(data), out=str(out), **{**base, **kwargs})


def test_epoch_sampler_shards_one_global_order():
    one = EpochSampler(10, shuffle=True, seed=3)
    one.set_epoch(2)
    ranks = [EpochSampler(10, shuffle=True, seed=3, rank=r, world=2) for r in range(2)]
    for r in ranks:
        r.set_epoch(2)
    order = list(one)
    assert sorted(order) == list(range(10))
    assert list(ranks[0]) == order[0::2] and list(ranks[1]) == order[1::2]
    one.set_epoch(2, skip=4)
    assert list(one) == order[4:] and len(one) == 6
    one.set_epoch(3)
    assert list(one) != order  # a new permutation each epoch


@pytest.mark.slow
def test_sigterm_mid_epoch_then_resume_reaches_the_same_weights(data, tmp_path, monkeypatch):
    full_out, cut_out = tmp_path / "full", tmp_path / "cut"
    train(config(data, full_out), progress=False)

    calls = {"n": 0}
    original = Target.batch_inputs

    def sigterm_on_third_batch(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Target, "batch_inputs", sigterm_on_third_batch)
    with pytest.raises(SystemExit) as stopped:
        train(config(data, cut_out), progress=False)
    assert stopped.value.code == 143
    state = torch.load(cut_out / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 0 and state["batches_done"] == 3
    monkeypatch.undo()

    train(config(data, cut_out), progress=False)
    full = torch.load(full_out / "checkpoints" / "last.pt", weights_only=True)
    cut = torch.load(cut_out / "checkpoints" / "last.pt", weights_only=True)
    for key, value in full["state_dict"].items():
        assert torch.equal(value, cut["state_dict"][key]), key  # bitwise
    a = pd.read_csv(full_out / "metrics.csv").drop(columns=["seconds", "clips_per_s"])
    b = pd.read_csv(cut_out / "metrics.csv").drop(columns=["seconds", "clips_per_s"])
    pd.testing.assert_frame_equal(a, b)
    assert list((full_out / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_sigterm_to_a_training_process_leaves_a_loadable_last_pt(data, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "motionprobe.cli", "train", "--data", str(data), "--out", str(out)]
    proc = subprocess.Popen(
        cmd + ["--epochs", "50"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while not (out / "metrics.csv").is_file() and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err.decode()[-2000:]
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    # The signal may land just before epoch 1's last.pt (metrics.csv is written first).
    assert state["epoch"] >= 0 and "optimizer" in state and "rng" in state
    assert torch.load(out / "checkpoints" / "best.pt", weights_only=True)["state_dict"]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(data, tmp_path):
    bad = config(data, tmp_path, optimizer="sgd", lr=1e30, schedule="constant", checkpoint_every=1)
    with pytest.raises(FloatingPointError, match="non-finite loss at epoch 1, batch"):
        train(bad, progress=False)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["batches_done"] >= 1


def test_a_checkpoint_of_another_model_is_refused(data, tmp_path):
    train(config(data, tmp_path, epochs=1), progress=False)
    with pytest.raises(ValueError, match="made for model 'c3d_tiny' with 4 classes"):
        train(config(data, tmp_path, model="i3d_rgb_tiny"), progress=False)
    with pytest.raises(FileExistsError, match="last.pt exists"):
        train(config(data, tmp_path, resume=False), progress=False)


def test_recipes_are_valid_and_overridable(data, tmp_path):
    fields = TrainConfig.__dataclass_fields__
    for name, fields_of in RECIPES.items():
        assert set(fields_of) <= set(fields), name
        assert TrainConfig.from_recipe(name).recipe == name
    kinetics = TrainConfig.from_recipe("i3d_rgb_kinetics400")
    assert (kinetics.frames, kinetics.size, kinetics.resize, kinetics.flip) == (64, 224, 256, True)
    assert kinetics.optimizer == "sgd" and kinetics.momentum == 0.9
    assert (
        main(
            [
                "train",
                "--recipe",
                "c3d_synthetic",
                "--data",
                str(data),
                "--out",
                str(tmp_path),
                "--epochs",
                "1",
                "--accumulate",
                "2",
            ]
        )
        == 0
    )
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["recipe"] == "c3d_synthetic" and saved["epochs"] == 1 and saved["lr"] == 4e-3
    assert saved["accumulate"] == 2 and saved["environment"]["versions"]["torch"]


@pytest.mark.slow
def test_multi_view_evaluation_and_two_checkpoint_fusion(data, tmp_path):
    a = train(config(data, tmp_path / "a", epochs=1), progress=False)["checkpoint"]
    b = train(config(data, tmp_path / "b", epochs=1, model="i3d_rgb_tiny"), progress=False)
    one = evaluate_checkpoints([a], data, tmp_path / "e1", num_clips=2, num_crops=3, progress=False)
    assert one.videos == 8 and one.views == 8 * 2 * 3
    assert one.video_top5 == 1.0  # 4 classes: the label is always in the top 5
    predictions = pd.read_csv(tmp_path / "e1" / "predictions.csv")
    assert predictions["top1"].mean() == pytest.approx(one.video_top1)
    written = read_run(tmp_path / "e1")
    assert written.kind == "evaluation" and isinstance(written.typed(), EvalConfig)
    assert written.typed().num_clips == 2 and written.json("summary.json") == one.to_dict()
    confusion = pd.read_csv(tmp_path / "e1" / "confusion.csv").set_index("true")
    assert confusion.to_numpy().sum() == 8 and list(confusion.columns) == sorted(CLASSES)
    per_class = pd.read_csv(tmp_path / "e1" / "per_class.csv")
    assert per_class["videos"].tolist() == [2, 2, 2, 2]
    both = evaluate_checkpoints(
        [a, b["checkpoint"]], data, tmp_path / "e2", num_clips=2, num_crops=1, progress=False
    )
    assert both.fusion == "logits" and both.views == 16


@pytest.mark.slow
def test_two_process_gloo_run_matches_the_single_process_run(data, tmp_path):
    one = tmp_path / "one"
    train(config(data, one, batch_size=8, checkpoint_every=0), progress=False)
    two = tmp_path / "two"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "motionprobe.cli",
        "train",
        "--data",
        str(data),
        "--out",
        str(two),
        "--epochs",
        "2",
        "--batch-size",
        "4",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = pd.read_csv(one / "metrics.csv"), pd.read_csv(two / "metrics.csv")
    assert json.loads((two / "config.json").read_text())["world_size"] == 2
    # Same items per global step and averaged gradients; BatchNorm statistics are per process
    # (4 clips instead of 8), so the runs agree closely but not bitwise.
    assert a["train_loss"].iloc[0] == pytest.approx(b["train_loss"].iloc[0], rel=0.05)
    assert (a["val_loss"] - b["val_loss"]).abs().max() < 0.25


@pytest.mark.slow
def test_bf16_autocast_and_accumulation_train_on_cpu(data, tmp_path):
    result = train(config(data, tmp_path, epochs=1, amp="bf16", accumulate=2), progress=False)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics["train_loss"].notna().all() and 0 <= result["test_acc"] <= 1
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    # 24 clips in batches of 4 = 6 micro-batches = 3 optimiser steps.
    assert state["scheduler"]["last_epoch"] == 3


def test_loader_benchmark_tiny_prints_its_figures():
    """``benchmarks/train.py --loader --tiny`` measures the training loader against a bare
    decode of the very same clips and prints every figure."""
    import re
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "train.py"
    done = subprocess.run(
        [sys.executable, str(script), "--loader", "--tiny", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "uint8 (3, 8, 32, 32)" in out and "loader clip == bare decode: True" in out
    figures = {}
    for name in ("per worker", "bare decode clips/s", "/ bare decode:", "2 workers", "speed-up"):
        line = next(ln for ln in out.splitlines() if name in ln)
        figures[name] = float(re.findall(r"\d+\.\d+", line)[0])
        assert figures[name] > 0, line
    assert figures["/ bare decode:"] == pytest.approx(
        figures["per worker"] / figures["bare decode clips/s"], abs=0.011
    )
    assert figures["speed-up"] == pytest.approx(
        figures["2 workers"] / figures["per worker"], abs=0.011
    )
    rss, unique = map(float, re.findall(r"RSS (\d+) MiB, unique (\d+) MiB", out)[0])
    assert 0 < unique <= rss
