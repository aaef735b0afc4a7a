"""The same runs on a GPU: results agree with the CPU, bf16 training stays finite.

Marked ``gpu``: skipped on machines without CUDA (``tests/conftest.py``); run them on a GPU
machine with ``pytest -m gpu``.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from motionprobe.data.synthetic import synthesize
from motionprobe.evaluate import evaluate_checkpoints
from motionprobe.models.checkpoint import load_checkpoint
from motionprobe.probes import run_probe
from motionprobe.train import TrainConfig, train

pytestmark = pytest.mark.gpu

CLASSES = ["red_object", "still", "move_right", "move_left"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny C3D trained on the GPU with bf16 autocast, and its data."""
    root = tmp_path_factory.mktemp("gpu")
    data = root / "data"
    synthesize(data, 6, 2, 3, frames=20, size=32, classes=CLASSES, progress=False)
    config = TrainConfig(data=str(data), out=str(root / "run"), model="c3d_tiny", epochs=2,
                         batch_size=4, device="cuda", amp="bf16")  # fmt: skip
    result = train(config, progress=False)
    return data, result["checkpoint"]


def test_bf16_training_on_the_gpu_is_finite_and_loads_on_the_cpu(checkpoint):
    _, path = checkpoint
    model, ckpt = load_checkpoint(path, "cpu")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert next(model.parameters()).device.type == "cpu"
    assert set(ckpt["classes"]) == set(CLASSES)


def test_probe_on_the_gpu_matches_the_cpu(checkpoint, tmp_path):
    data, path = checkpoint
    kwargs = dict(interventions=["freeze", "shuffle", "reverse"], batch_size=4, amp="off")
    run_probe(path, data, tmp_path / "cpu", device="cpu", progress=False, **kwargs)
    run_probe(path, data, tmp_path / "gpu", device="cuda", progress=False, **kwargs)
    cpu = pd.read_parquet(tmp_path / "cpu" / "predictions.parquet")
    gpu = pd.read_parquet(tmp_path / "gpu" / "predictions.parquet")
    assert len(cpu) == len(gpu) > 0
    # Same clips, same interventions; fp32 kernels differ, so logits agree only closely.
    pd.testing.assert_frame_equal(
        cpu[["video_id", "intervention", "seed"]], gpu[["video_id", "intervention", "seed"]]
    )
    assert (cpu["logit_label"] - gpu["logit_label"]).abs().max() < 1e-3
    assert (cpu["pred"] == gpu["pred"]).mean() > 0.95


def test_multi_view_evaluation_on_the_gpu_matches_the_cpu(checkpoint, tmp_path):
    data, path = checkpoint
    args = dict(num_clips=2, num_crops=2, progress=False)
    cpu = evaluate_checkpoints([path], data, tmp_path / "cpu", device="cpu", **args)
    gpu = evaluate_checkpoints([path], data, tmp_path / "gpu", device="cuda", **args)
    assert gpu.views == cpu.views and gpu.videos == cpu.videos
    assert abs(gpu.clip_top1 - cpu.clip_top1) <= 1 / cpu.views
