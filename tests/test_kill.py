"""SIGKILL at random moments: reruns finish with what an uninterrupted run writes.

Each campaign runs a command once uninterrupted, then again into another folder, killed with
SIGKILL at seeded random moments (each rerun continues where the last one died), and compares
the results. Swapping the data or the checkpoint between a kill and the rerun is refused.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from motionprobe.cli import EXIT_ERROR
from motionprobe.data.synthetic import synthesize
from motionprobe.models import create_model
from motionprobe.models.checkpoint import save_checkpoint

pytestmark = pytest.mark.slow

CLASSES = ["move_right", "red_object", "still"]


def _command(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "motionprobe.cli", *argv, "--quiet"]


def _timed(argv: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(_command(argv), check=True, capture_output=True)
    return time.monotonic() - start


def _killed_at(argv: list[str], seconds: float) -> bool:
    """Run ``argv``, SIGKILL it after ``seconds``; whether it was still running then."""
    proc = subprocess.Popen(_command(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def _campaign(argv_of, whole: Path, cut: Path, seed: int, kills: int = 3) -> int:
    """Kill the run into ``cut`` ``kills`` times at random moments, then let it finish."""
    duration = _timed(argv_of(whole))
    rng = random.Random(seed)
    killed = sum(_killed_at(argv_of(cut), rng.uniform(0.3, 0.95) * duration) for _ in range(kills))
    subprocess.run(_command(argv_of(cut)), check=True, capture_output=True)
    return killed


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    one = synthesize(root / "one", 4, 2, 4, classes=CLASSES, size=32, seed=0, progress=False)
    two = synthesize(root / "two", 4, 2, 4, classes=CLASSES, size=32, seed=1, progress=False)
    torch.manual_seed(0)
    ckpt = root / "m.pt"
    save_checkpoint(ckpt, create_model("c3d_tiny", num_classes=3), CLASSES, {"frames": 16})
    return root, Path(one), Path(two), ckpt


def test_probe_killed_at_random_moments_ends_with_the_same_tables(setup):
    root, one, two, ckpt = setup

    def argv(out: Path) -> list[str]:
        return ["probe", "--checkpoint", str(ckpt), "--data", str(one), "--out", str(out),
                "--batch-size", "2", "--interventions", "freeze,shuffle,reverse"]  # fmt: skip

    killed = _campaign(argv, root / "p_whole", root / "p_cut", seed=1)
    assert killed >= 1
    for name in ("predictions.parquet", "per_class.csv", "where.csv", "motion_energy.csv"):
        read = pd.read_parquet if name.endswith(".parquet") else pd.read_csv
        pd.testing.assert_frame_equal(read(root / "p_cut" / name), read(root / "p_whole" / name))


def test_a_killed_probe_refuses_swapped_data_or_checkpoint(setup, tmp_path):
    _, one, two, ckpt = setup
    out = tmp_path / "probe"
    argv = ["probe", "--checkpoint", str(ckpt), "--data", str(one), "--out", str(out),
            "--batch-size", "2"]  # fmt: skip
    proc = subprocess.Popen(_command(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((out / "parts").glob("batch_*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    swapped = [a if a != str(one) else str(two) for a in argv]
    result = subprocess.run(_command(swapped), capture_output=True, text=True)
    assert result.returncode == EXIT_ERROR and "another data" in result.stderr
    other = tmp_path / "other.pt"
    torch.manual_seed(1)
    save_checkpoint(other, create_model("c3d_tiny", num_classes=3), CLASSES, {"frames": 16})
    ckpt_copy = tmp_path / "m.pt"
    ckpt_copy.write_bytes(other.read_bytes())
    moved = [a if a != str(ckpt) else str(ckpt_copy) for a in argv]
    result = subprocess.run(_command(moved), capture_output=True, text=True)
    assert result.returncode == EXIT_ERROR and "checkpoint" in result.stderr


def test_training_killed_at_random_moments_ends_with_the_same_weights(setup):
    root, one, _, _ = setup

    def argv(out: Path) -> list[str]:
        return ["train", "--model", "c3d_tiny", "--data", str(one), "--out", str(out),
                "--epochs", "2", "--batch-size", "4", "--workers", "0",
                "--checkpoint-every", "1"]  # fmt: skip

    killed = _campaign(argv, root / "t_whole", root / "t_cut", seed=2)
    assert killed >= 1
    a = torch.load(root / "t_whole" / "checkpoints" / "best.pt", weights_only=True)
    b = torch.load(root / "t_cut" / "checkpoints" / "best.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    keep = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]
    pd.testing.assert_frame_equal(
        pd.read_csv(root / "t_cut" / "metrics.csv")[keep],
        pd.read_csv(root / "t_whole" / "metrics.csv")[keep],
    )
    # No temporary file of an interrupted write is left behind.
    assert not [p for p in (root / "t_cut").rglob(".*") if p.is_file()]


def test_flow_extraction_killed_at_random_moments_ends_with_the_same_cache(setup):
    root, one, _, _ = setup

    def argv(out: Path) -> list[str]:
        return ["flow", str(one), "--out", str(out), "--method", "farneback"]

    killed = _campaign(argv, root / "f_whole", root / "f_cut", seed=3)
    assert killed >= 1
    whole = sorted(p.relative_to(root / "f_whole") for p in (root / "f_whole").rglob("*.npz"))
    cut = sorted(p.relative_to(root / "f_cut") for p in (root / "f_cut").rglob("*.npz"))
    assert whole == cut and whole
    for rel in whole:
        with np.load(root / "f_whole" / rel) as a, np.load(root / "f_cut" / rel) as b:
            assert np.array_equal(a["flow"], b["flow"]), rel
