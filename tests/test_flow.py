"""Optical flow: known motion, quantisation, colour coding, the cache (resume, damage, shards),
aligned RGB + flow clips, and training a flow model end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from motionprobe import flow as fl
from motionprobe import tvl1
from motionprobe.cli import main
from motionprobe.data import VideoDataset, load_index
from motionprobe.data.synthetic import synthesize
from motionprobe.transforms import ClipTransform, flip_flow, preset, resize_flow
from motionprobe.video import write_video


def texture(n: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth periodic random texture in 0..255 (periodic, so shifts wrap without seams)."""
    rng = np.random.default_rng(seed)
    fy, fx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")
    spectrum = np.fft.fft2(rng.standard_normal((n, n))) * np.exp(-(fx**2 + fy**2) * (n / 6) ** 2)
    tex = np.real(np.fft.ifft2(spectrum))
    return (tex - tex.min()) / (tex.max() - tex.min()) * 255


def translated(dx: float, dy: float, frames: int = 4, n: int = 96) -> np.ndarray:
    """uint8 RGB frames of the texture moved by (dx, dy) px per frame (sub-pixel by Fourier)."""
    tex = texture(n)
    fy, fx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")
    out = []
    for t in range(frames):
        phase = np.exp(-2j * np.pi * (fx * dx * t + fy * dy * t))
        out.append(np.clip(np.real(np.fft.ifft2(np.fft.fft2(tex) * phase)), 0, 255))
    grey = np.rint(np.stack(out)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


@pytest.mark.parametrize("method", fl.METHODS)
@pytest.mark.parametrize(
    ("dx", "dy"), [(2, 0), (0, -1), (2, -1), (1.5, 0.5), (-3, 2), (0.25, -0.75)]
)
def test_translated_texture_gives_its_displacement(method, dx, dy):
    flow = fl.compute_flow(translated(dx, dy), method)
    assert flow.shape == (2, 3, 96, 96) and flow.dtype == np.float32
    inner = flow[:, :, 8:-8, 8:-8]  # borders have no match in the next frame
    # Sign convention: content moving right/down has positive dx/dy. Both TV-L1s are sub-pixel
    # accurate; Farneback's polynomial fit is coarser.
    tol = 0.25 if method == "farneback" else 0.1
    assert abs(inner[0].mean() - dx) < tol and abs(inner[1].mean() - dy) < tol


def test_tvl1_torch_solves_each_pair_of_a_batch_as_alone():
    # Pairs of one batch stop iterating each on its own criterion, as OpenCV does one by one.
    frames = np.concatenate([translated(1.5, 0.5, 3, 48), translated(-2, 1, 3, 48)])
    together = fl.compute_flow(frames, "tvl1-torch")
    alone = [fl.compute_flow(frames[t : t + 2], "tvl1-torch")[:, 0] for t in range(5)]
    np.testing.assert_array_equal(together, np.stack(alone, axis=1))
    # The one-pair estimator and on-the-fly clip flow give the same fields.
    grey = fl.to_grey(frames)
    pair = fl.FlowEstimator("tvl1-torch")(grey[0], grey[1])
    np.testing.assert_array_equal(pair.transpose(2, 0, 1), together[:, 0])
    clips = torch.from_numpy(frames).permute(3, 0, 1, 2).float()[None].repeat(2, 1, 1, 1, 1)
    clips[1, :, 3] = clips[1, :, 2]  # a frozen step: exactly zero flow, not solved
    flow = fl.clip_flow(clips, "tvl1-torch")
    assert flow.shape == (2, 2, 5, 48, 48)
    np.testing.assert_array_equal(flow[0].numpy(), together)
    assert flow[1, :, 2].abs().max() == 0


def test_tvl1_torch_steps_are_opencvs():
    """The pyramid's resizes, the bicubic warp and the median filter against OpenCV's own."""
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (61, 83)).astype(np.float32), (0, 0), 2)
    x = torch.from_numpy(img)[None]
    down = cv2.resize(img, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(tvl1._resize(x, down.shape, 0.8)[0], down, atol=1e-3)
    up = cv2.resize(img, (101, 77), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(tvl1._resize(x, (77, 101), None)[0], up, atol=1e-3)
    u = rng.normal(0, 3, (2, 61, 83)).astype(np.float32)  # reaches outside: zero there
    ys, xs = np.mgrid[:61, :83].astype(np.float32)
    warped = cv2.remap(img, xs + u[0], ys + u[1], cv2.INTER_CUBIC)
    ours = tvl1._warp(x[None], torch.from_numpy(u)[:, None])[0, 0]
    np.testing.assert_allclose(ours, warped, atol=1e-2)
    np.testing.assert_array_equal(tvl1._median5(torch.from_numpy(u)), np.stack(
        [cv2.medianBlur(c, 5) for c in u]))  # fmt: skip


def test_tvl1_torch_greyscale_is_opencvs():
    frames = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    ours = tvl1.grey(torch.from_numpy(frames)).numpy()
    np.testing.assert_array_equal(ours, np.stack(fl.to_grey(frames)).astype(np.float32))


@pytest.mark.slow
def test_tvl1_torch_matches_opencv_on_the_real_videos(real_videos):
    """One pair from the middle of each real video at 256 short side (benchmarks/flow.py: more).

    Where a pair is ill-posed (large motion at 6 fps, occlusions), float rounding alone moves
    TV-L1's answer: OpenCV fed the same pair as float instead of uint8 moves by 0.03 px at two
    scales. So the mean error is bounded per video and the cache agreement over all pixels.
    """
    torch.set_num_threads(1)  # small batches: one thread is faster than two contending
    near, pixels = 0, 0
    for path in real_videos:
        frames, _ = fl.read_video(path, short_side=256)
        pair = frames[len(frames) // 2 - 1 : len(frames) // 2 + 1]
        ref, ours = fl.compute_flow(pair, "tvl1"), fl.compute_flow(pair, "tvl1-torch")
        epe = np.hypot(*(ours - ref)).mean()
        assert epe <= max(0.25, 0.05 * np.hypot(*ref).mean()), (path.name, epe)
        close = np.abs(fl.quantize(ours).astype(int) - fl.quantize(ref).astype(int)) <= 1
        near, pixels = near + close.all(axis=0).sum(), pixels + close[0].size
    assert near / pixels >= 0.95


def test_compute_flow_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        fl.compute_flow(np.zeros((3, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="at least 2"):
        fl.compute_flow(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="unknown tvl1 parameters"):
        fl.compute_flow(np.zeros((2, 8, 8, 3), np.uint8), params={"lambda": 1})
    with pytest.raises(ValueError, match="5x5 median"):  # OpenCV's 3x3 is not reimplemented
        fl.compute_flow(np.zeros((2, 8, 8, 3), np.uint8), "tvl1-torch", {"medianFiltering": 3})


def test_quantisation_round_trip_within_half_a_level():
    flow = np.linspace(-25, 25, 10001, dtype=np.float32)
    q = fl.quantize(flow)
    assert q.dtype == np.uint8 and q.min() == 0 and q.max() == 255
    back = fl.dequantize(q)
    half = fl.BOUND / (fl.LEVELS - 1)  # half of the 2 * bound / 255 step
    assert np.abs(back - np.clip(flow, -20, 20)).max() <= half + 1e-5
    assert fl.dequantize(fl.quantize(np.float32(-20))) == -20
    assert fl.dequantize(fl.quantize(np.float32(20))) == 20


def test_colour_wheel_codes_direction_and_speed():
    flow = np.zeros((2, 1, 5), np.float32)
    flow[0, 0] = [0, 4, -4, 2, 0]  # still, right, left, slow right, down
    flow[1, 0, 4] = 4
    rgb = fl.flow_to_color(flow)[0].astype(int)
    assert rgb.shape == (5, 3)
    assert rgb[0].tolist() == [255, 255, 255]  # no motion is white
    assert rgb[1, 0] > 200 and rgb[1, 1] < 60 and rgb[1, 2] < 60  # right is red
    assert rgb[2, 0] < 60 and rgb[2, 2] > 150  # left is towards cyan-blue
    assert rgb[3, 1] > rgb[1, 1] + 80  # half the speed, half the saturation
    assert not np.array_equal(rgb[4], rgb[1])
    assert fl.flow_to_color(np.zeros((2, 3, 4, 4))).shape == (3, 4, 4, 3)


def test_stack_flow_interleaves_fields():
    flow = torch.arange(2 * 12).float().view(2, 12, 1, 1).expand(2, 12, 2, 2)
    stack = fl.stack_flow(flow, start=2, length=10)
    assert stack.shape == (20, 2, 2)
    assert stack[:4, 0, 0].tolist() == [2, 14, 3, 15]  # dx_2, dy_2, dx_3, dy_3
    with pytest.raises(ValueError, match="outside"):
        fl.stack_flow(flow, start=5, length=10)


def test_resize_and_flip_transform_displacements():
    flow = torch.ones(2, 3, 10, 20)
    flow[1] *= -2
    big = resize_flow(flow, (20, 60))
    assert torch.allclose(big[0], torch.full((3, 20, 60), 3.0))  # 3x wider: dx x 3
    assert torch.allclose(big[1], torch.full((3, 20, 60), -4.0))  # 2x taller: dy x 2
    ramp = torch.arange(5.0).expand(2, 1, 1, 5)
    flipped = flip_flow(ramp)
    assert flipped[0, 0, 0].tolist() == [-4, -3, -2, -1, -0.0]
    assert flipped[1, 0, 0].tolist() == [4, 3, 2, 1, 0]


def test_clip_transform_crops_and_flips_rgb_and_flow_together():
    cols = np.arange(48)
    frames = np.broadcast_to(cols[None, None, :, None], (4, 40, 48, 3)).astype(np.uint8)
    flow = np.zeros((2, 4, 40, 48), np.float32)
    flow[0] = cols  # dx equals the column: after any crop and flip the two must still agree
    t = ClipTransform(preset("i3d_rgb", crop=24, short_side=40), train=True, flip=True, seed=3)
    flips = 0
    for _ in range(20):
        rgb, f = t(frames, flow)
        assert rgb.shape == (3, 4, 24, 24) and f.shape == (2, 4, 24, 24)
        mirrored = rgb[0, 0, 0, 0] > rgb[0, 0, 0, -1]
        flips += int(mirrored)
        sign = -1 if mirrored else 1
        torch.testing.assert_close(sign * f[0], rgb[0])  # flipping negated dx
    assert 0 < flips < 20


# --- the cache -----------------------------------------------------------------------------


def entries(out: Path) -> list[Path]:
    """Finished cache entries (temporary files start with a dot)."""
    return sorted(p for p in out.rglob("*.npz") if not p.name.startswith("."))


@pytest.fixture()
def synth(tmp_path):
    root = tmp_path / "data"
    synthesize(root, 2, 0, 1, frames=12, size=32, classes=["move_right", "still"], progress=False)
    (root / "train" / "still" / "broken.mp4").write_bytes(b"not a video")
    return root


def test_extraction_lists_the_bad_file_and_finishes_the_rest(synth, tmp_path):
    out = tmp_path / "flow"
    result = fl.extract_flow(synth, out, method="farneback", progress=False)
    videos = fl.list_videos(synth)
    assert result["videos"] == len(videos) == 7 and result["computed"] == 6
    assert [Path(p).name for p, _ in result["bad"]] == ["broken.mp4"]
    bad = pd.read_csv(out / "bad_items-0-of-1.csv")
    assert bad["path"].str.endswith("broken.mp4").all() and len(bad) == 1
    settings = fl.read_settings(out)
    assert settings["method"] == "farneback" and settings["bound"] == 20
    assert settings["params"]["winsize"] == 15
    good = [v for v in videos if v.name != "broken.mp4"]
    for v in good:
        assert fl.check_entry(fl.entry_path(out, synth, v), full=True) is None
    flow, fps = fl.load_entry(fl.entry_path(out, synth, good[0]))
    assert flow.shape == (2, 11, 32, 32) and fps == 25.0
    # A rerun does nothing but re-list the bad file.
    again = fl.extract_flow(synth, out, method="farneback", progress=False)
    assert again["skipped"] == 6 and again["computed"] == 0 and len(again["bad"]) == 1
    with pytest.raises(ValueError, match="other settings"):
        fl.extract_flow(synth, out, method="tvl1", progress=False)


def test_damaged_entries_are_detected_and_recomputed(synth, tmp_path):
    out = tmp_path / "flow"
    fl.extract_flow(synth, out, method="farneback", progress=False)
    found = entries(out)
    reference = fl.load_entry(found[0])[0]
    found[0].write_bytes(found[0].read_bytes()[:100])  # partial file
    data = bytearray(found[1].read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped byte inside the compressed data, same size
    found[1].write_bytes(bytes(data))
    assert "unreadable" in fl.check_entry(found[0])
    with pytest.raises(Exception, match=found[1].name):
        fl.load_entry(found[1])
    quick = fl.extract_flow(synth, out, method="farneback", progress=False)
    assert [Path(p).name for p, _ in quick["recomputed"]] == [found[0].name]
    full = fl.extract_flow(synth, out, method="farneback", verify=True, progress=False)
    assert [Path(p).name for p, _ in full["recomputed"]] == [found[1].name]
    np.testing.assert_array_equal(fl.load_entry(found[0])[0], reference)
    assert fl.check_entry(found[1], full=True) is None


@pytest.mark.slow
def test_killed_extraction_resumes_without_recomputing(synth, tmp_path):
    out = tmp_path / "flow"
    cmd = [sys.executable, "-m", "motionprobe.cli", "flow", str(synth), "--out", str(out)]
    proc = subprocess.Popen(
        cmd + ["--method", "tvl1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while len(entries(out)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p: p.stat().st_mtime_ns for p in entries(out)}
    assert 2 <= len(done) < 6  # killed midway
    result = fl.extract_flow(synth, out, method="tvl1", progress=False)
    assert result["skipped"] == len(done) and result["computed"] == 6 - len(done)
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # finished ones untouched
    assert len(entries(out)) == 6
    assert not [p for p in out.rglob(".*") if p.is_file()]  # the kill's temporary file is gone


def test_shards_split_the_dataset_and_follow_torchrun(synth, tmp_path, monkeypatch):
    out = tmp_path / "flow"
    a = fl.extract_flow(synth, out, "farneback", num_shards=2, shard_index=0, progress=False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    b = fl.extract_flow(synth, out, "farneback", progress=False)
    assert a["shard"] == "0-of-2" and b["shard"] == "1-of-2"
    assert a["videos"] + b["videos"] == 7 and a["skipped"] == b["skipped"] == 0
    assert len(entries(out)) == 6


def test_two_workers_write_the_same_entries_as_one(synth, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    fl.extract_flow(synth, one, "farneback", progress=False)
    result = fl.extract_flow(synth, two, "farneback", workers=2, progress=False)
    assert result["computed"] == 6 and len(result["bad"]) == 1
    for entry in entries(one):
        twin = two / entry.relative_to(one)
        np.testing.assert_array_equal(fl.load_entry(entry)[0], fl.load_entry(twin)[0])


def test_tvl1_torch_cache_from_the_cli_agrees_with_opencvs(synth, tmp_path):
    ours, ref = tmp_path / "torch", tmp_path / "opencv"
    assert main(["flow", str(synth), "--out", str(ours), "--method", "tvl1-torch",
                 "--device", "cpu", "--workers", "2"]) == 0  # fmt: skip
    fl.extract_flow(synth, ref, "tvl1", progress=False)
    assert fl.read_settings(ours)["method"] == "tvl1-torch"
    assert len(entries(ours)) == len(entries(ref)) == 6  # and the broken file listed, not fatal
    for entry in entries(ref):
        a = np.load(entry)["flow"].astype(int)
        b = np.load(ours / entry.relative_to(ref))["flow"].astype(int)
        assert (np.abs(a - b) <= 1).all(axis=0).mean() >= 0.95, entry.name


def test_gpu_path_decodes_ahead_in_order_and_lists_bad_videos(synth, tmp_path, monkeypatch):
    # The path extract_flow takes for tvl1-torch on CUDA, run here on the CPU with Farneback.
    videos = fl.list_videos(synth)
    params = fl.method_params("farneback")
    todo = [(str(v), str(tmp_path / f"{i}.npz"), "farneback", params, None, None, None)
            for i, v in enumerate(videos)]  # fmt: skip
    reads = []
    read_video = fl.read_video

    def counted(path, *args):
        reads.append(Path(path).name)
        return read_video(path, *args)

    monkeypatch.setattr(fl, "read_video", counted)
    results = list(fl._gpu_results(todo, 2))
    assert sorted(reads) == sorted(Path(v).name for v in videos)  # each decoded once, bad too
    assert [r[0] for r in results] == [str(v) for v in videos]
    bad = [r for r in results if r[1] is not None]
    assert [Path(r[0]).name for r in bad] == ["broken.mp4"]
    assert len(list(tmp_path.glob("*.npz"))) == len(videos) - 1


@pytest.mark.slow
def test_extraction_over_the_real_videos(real_videos, tmp_path):
    root = real_videos[0].parent
    result = fl.extract_flow(root, tmp_path, "farneback", short_side=64, progress=False)
    assert result["bad"] == [] and result["computed"] == len(real_videos)
    for path in real_videos:
        flow, fps = fl.load_entry(fl.entry_path(tmp_path, root, path))
        assert min(flow.shape[2:]) == 64 and fps > 0
        assert np.isfinite(flow).all()


# --- aligned clips ---------------------------------------------------------------------------


@pytest.fixture()
def jump(tmp_path):
    """A still texture that jumps 3 px right between frames 6 and 7, in a one-class dataset."""
    tex = texture(64)
    frames = [tex if t <= 6 else np.roll(tex, 3, axis=1) for t in range(12)]
    rgb = np.repeat(np.rint(np.stack(frames)).astype(np.uint8)[..., None], 3, axis=-1)
    root = tmp_path / "jump"
    write_video(root / "test" / "jump" / "a.mkv", rgb, fps=10, lossless=True)
    return root


def _item(root, **kwargs):
    index = load_index(root, "test")
    ds = VideoDataset(
        index.records,
        index.classes,
        frames=6,
        sampling="uniform",
        num_clips=2,
        short="error",
        flow_method="farneback",
        **kwargs,
    )
    return ds[1]  # uniform starts: 0 and the last possible one (11 - 6 = 5)


@pytest.mark.parametrize("cached", [False, True])
def test_flow_field_t_is_between_frames_t_and_t_plus_1(jump, tmp_path, cached):
    kwargs = {"modality": "rgb+flow"}
    if cached:
        fl.extract_flow(jump, tmp_path / "cache", "farneback", progress=False)
        kwargs.update(flow_cache=tmp_path / "cache", flow_root=jump)
    item = _item(jump, **kwargs)
    video, flow = item["video"], item["flow"]
    assert video.shape == (6, 64, 64, 3) and flow.shape == (2, 6, 64, 64)
    # Start 5: frames 5..10 and fields 5..10; the jump (frame 6 -> 7) is field index 1.
    mean_dx = flow[0, :, 8:-8, 8:-8].mean((1, 2))
    assert abs(mean_dx[1] - 3) < 0.25 and mean_dx[[0, 2, 3, 4, 5]].abs().max() < 0.25
    assert not torch.equal(video[0], video[2])  # frame 5 (before) and 7 (after the jump)


def test_flow_cache_at_another_rate_is_refused(jump, tmp_path):
    fl.extract_flow(jump, tmp_path / "cache", "farneback", fps=5, progress=False)
    item = _item(jump, modality="flow", flow_cache=tmp_path / "cache", flow_root=jump)
    assert "flow cache at 5 fps, clips at 10 fps" in item["error"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["i3d_flow_tiny", "two_stream_tiny"])
def test_flow_models_train_end_to_end(name, tmp_path):
    from motionprobe.models.checkpoint import load_checkpoint
    from motionprobe.train import TrainConfig, train

    data = tmp_path / "data"
    synthesize(
        data, 3, 1, 1, frames=20, size=32, classes=["move_right", "move_left"], progress=False
    )
    config = TrainConfig(
        model=name,
        data=str(data),
        out=str(tmp_path / "run"),
        epochs=1,
        batch_size=2,
        flow_method="farneback",
    )
    result = train(config, progress=False)
    model, ckpt = load_checkpoint(result["checkpoint"])
    assert model.inputs[-1] == "flow" and 0 <= result["test_acc"] <= 1
    assert ckpt["presets"]["flow"]["clip"] == 20.0
