"""The same runs on a GPU: results agree with the CPU, bf16 training stays finite.

* a bf16 training run of a tiny model, its probe and multi-view evaluation against the CPU;
* one bf16 autocast training step (forward, backward, optimiser step) of every full-size model,
  channels-last as the benchmarks run them;
* a 1-GPU training run under ``torchrun`` (NCCL, DistributedDataParallel);
* attribution maps on CUDA against the CPU's;
* TV-L1 flow on CUDA (``tvl1-torch``) against the same method on the CPU.

Marked ``gpu``: skipped on machines without CUDA (``tests/conftest.py``); run them on a GPU
machine with ``pytest -m gpu`` (``benchmarks/gpu.sh`` does, with the GPU figures).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from motionprobe.attribution import attribute
from motionprobe.data.synthetic import synthesize
from motionprobe.evaluate import evaluate_checkpoints
from motionprobe.models import create_model, list_models
from motionprobe.models.checkpoint import load_checkpoint
from motionprobe.probes import run_probe
from motionprobe.train import TrainConfig, train

pytestmark = pytest.mark.gpu

CLASSES = ["red_object", "still", "move_right", "move_left"]
ROOT = Path(__file__).resolve().parents[1]
FULL_SIZE = [name for name in list_models() if not name.endswith("_tiny")]


def _benchmark_models():
    """``benchmarks/models.py`` (not a package), whose ``channels_last`` the benchmarks use."""
    spec = importlib.util.spec_from_file_location("bench_models", ROOT / "benchmarks" / "models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_tf32():
    """Full float32 matrix products and convolutions (no TF32) while a test compares to the CPU."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


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


@pytest.mark.parametrize("name", FULL_SIZE)
def test_bf16_training_step_of_every_full_size_model_is_finite(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=400).to("cuda").train()
    model = _benchmark_models().channels_last(model)  # channels_last_3d for 3-D convolutions
    inputs = [
        x.cuda().contiguous(memory_format=torch.channels_last_3d)
        for x in model.example_inputs(batch=2)
    ]
    opt = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9)
    labels = torch.tensor([0, 1], device="cuda")
    before = [p.detach().clone() for p in model.parameters()]
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(*inputs)
    loss = nn.functional.cross_entropy(logits.float(), labels)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert torch.isfinite(loss), name
    assert logits.shape == (2, 400)
    assert grads and all(torch.isfinite(g).all() for g in grads), name
    opt.step()
    assert all(torch.isfinite(p).all() for p in model.parameters()), name
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_one_gpu_torchrun_training_uses_nccl_and_writes_a_loadable_checkpoint(tmp_path):
    data = synthesize(tmp_path / "data", 4, 2, 2, frames=20, size=32, classes=CLASSES,
                      progress=False)  # fmt: skip
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
           "-m", "motionprobe.cli", "train", "--data", str(data), "--out", str(out),
           "--model", "c3d_tiny", "--epochs", "1", "--batch-size", "4", "--device", "cuda",
           "--amp", "bf16"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT), TQDM_DISABLE="1")
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("last.pt", "best.pt"):
        model, ckpt = load_checkpoint(out / "checkpoints" / name, "cpu")
        assert set(ckpt["classes"]) == set(CLASSES)
        assert all(torch.isfinite(p).all() for p in model.parameters())
    config = json.loads((out / "config.json").read_text())
    assert config["world_size"] == 1 and config["device_resolved"] == "cuda:0"
    assert config["environment"]["backend"] == "nccl"


@pytest.mark.parametrize("name", ["i3d_rgb_tiny", "i3d_two_stream_tiny"])
@pytest.mark.parametrize("method", ["integrated_gradients", "gradcam", "frame_ablation"])
def test_attribution_on_the_gpu_matches_the_cpu(name, method, no_tf32):
    torch.manual_seed(0)
    model = create_model(name, num_classes=4).eval()
    xs = model.example_inputs(batch=2)
    target = torch.tensor([1, 3])
    kwargs = dict(steps=8)

    def run(device: str):
        clips = tuple(x.to(device) for x in xs)
        out = attribute(model.to(device), clips if len(clips) > 1 else clips[0],
                        target.to(device), method, **kwargs)  # fmt: skip
        return [a.detach().float().cpu() for a in (out if isinstance(out, tuple) else (out,))]

    cpu, gpu = run("cpu"), run("cuda")
    assert [a.shape for a in gpu] == [a.shape for a in cpu] == [x.shape for x in xs]
    for a, b in zip(cpu, gpu, strict=True):
        assert torch.isfinite(b).all()
        scale = a.abs().max().clamp_min(1e-8)
        assert (a - b).abs().max() <= 1e-3 * scale, (method, float((a - b).abs().max()), scale)


def test_tvl1_on_the_gpu_matches_the_cpu():
    from motionprobe.flow import compute_flow

    # A blurred random texture moving 2 px left and 1 px up per frame (a window moving right, down).
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (80, 112, 3)).astype(np.float32)
    kernel = np.ones(5, np.float32) / 5
    for axis in (0, 1):
        texture = np.apply_along_axis(np.convolve, axis, texture, kernel, mode="same")
    frames = np.stack([texture[t : t + 64, 2 * t : 2 * t + 96] for t in range(4)])
    frames = frames.clip(0, 255).astype(np.uint8)
    cpu = compute_flow(frames, method="tvl1-torch", device="cpu")
    gpu = compute_flow(frames, method="tvl1-torch", device="cuda")
    assert cpu.dtype == gpu.dtype == np.float32
    assert cpu.shape == gpu.shape == (2, 3, 64, 96)
    assert np.isfinite(gpu).all()
    assert np.abs(gpu - cpu).mean() < 0.05  # pixels
