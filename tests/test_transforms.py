"""Transforms: one permutation to CTHW, aspect-keeping resize, crops, presets."""

from __future__ import annotations

import resource

import numpy as np
import pytest
import torch

from motionprobe.device import populate
from motionprobe.transforms import (
    ClipTransform,
    Preset,
    planar,
    preset,
    resize_short_side,
    to_model_layout,
)


def test_to_model_layout_permutes_without_changing_values():
    frames = np.random.default_rng(0).integers(0, 256, (4, 5, 6, 3), dtype=np.uint8)
    clip = to_model_layout(frames)
    assert clip.shape == (3, 4, 5, 6) and clip.dtype == torch.float32
    assert clip[2, 3, 4, 5] == frames[3, 4, 5, 2]
    assert to_model_layout(np.stack([frames, frames])).shape == (2, 3, 4, 5, 6)
    with pytest.raises(ValueError):
        to_model_layout(np.zeros((5, 6, 3), dtype=np.uint8))


def test_resize_keeps_aspect_and_constant_images():
    clip = torch.full((3, 2, 240, 320), 77.0)
    out = resize_short_side(clip, 128)
    assert out.shape == (3, 2, 128, 171)  # C3D's 128x171 from 4:3 video
    assert torch.allclose(out, torch.full_like(out, 77.0))


def test_clip_transform_centre_crop_and_random_crop_bounds():
    frames = np.zeros((8, 240, 320, 3), dtype=np.uint8)
    frames[:, 120, 160] = 255  # the centre pixel survives the centre crop
    p = preset("c3d")
    centre = ClipTransform(p)(frames)
    assert centre.shape == (3, 8, 112, 112) and centre.max() > 0
    crops = {tuple(ClipTransform(p, train=True, seed=s)(frames).shape) for s in range(5)}
    assert crops == {(3, 8, 112, 112)}


def test_presets_round_trip_and_normalise():
    p = preset("i3d_rgb")
    assert Preset.from_dict(p.to_dict()) == p
    x = torch.tensor([0.0, 127.5, 255.0]).view(1, 3, 1, 1, 1).expand(1, 3, 1, 1, 1)
    assert torch.allclose(
        p.normalize(x.repeat(1, 1, 1, 1, 1)).flatten(), torch.tensor([-1.0, 0, 1])
    )
    with pytest.raises(ValueError):
        preset("c3d", crop=112, short_side=100)


@pytest.mark.parametrize(
    "p, shape",
    [
        (preset("i3d_rgb", crop=32, short_side=48), (8, 48, 64, 3)),  # no resize: uint8 crop
        (preset("i3d_rgb", crop=32, short_side=40), (8, 48, 64, 3)),  # float resize
        (Preset("tv", (0.0,) * 3, (1.0,) * 3, 40, 32, convention="torchvision"), (8, 48, 64, 3)),
    ],
)
def test_clip_transform_uint8_keeps_the_float_values(p, shape):
    """uint8 clips hold exactly the float clips' values, and normalise to the same inputs."""
    frames = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    for train in (False, True):
        ref = ClipTransform(p, train=train, flip=True, seed=3)
        fast = ClipTransform(p, train=train, flip=True, seed=3, uint8=True)
        for _ in range(3):
            a, b = ref(frames), fast(frames)
            assert a.dtype == torch.float32 and a.shape == (3, 8, 32, 32) and a.is_contiguous()
            # uint8 wherever resizing leaves integer pixels; float where it interpolates
            exact = p.convention == "torchvision" or p.short_side == 48
            assert b.dtype == (torch.uint8 if exact else torch.float32)
            # an unflipped uint8 crop is a view of the frames; the collate makes it contiguous
            b = planar(b)
            assert b.is_contiguous() and torch.equal(b.float(), a)
            assert torch.equal(p.normalize(b[None]), p.normalize(a[None]))
        # the old path (resize the whole frame in float, then crop) gives the same clip
        whole = p.resize(frames)
        top, left = p.centre(*whole.shape[-2:])
        assert torch.equal(ClipTransform(p)(frames), whole[..., top : top + 32, left : left + 32])


def test_planar_writes_the_planes_into_a_given_buffer_and_refuses_a_wrong_one():
    frames = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (5, 6, 7, 3), np.uint8))
    clip = frames[:, 1:5, 2:6].permute(3, 0, 1, 2)  # an interleaved crop, as ClipTransform gives
    out = torch.zeros(2, 3, 5, 4, 4, dtype=torch.uint8)
    assert planar(clip, out=out[1]).data_ptr() == out[1].data_ptr()
    assert torch.equal(out[1], clip.contiguous()) and not out[0].any()
    with pytest.raises(ValueError, match="cannot hold"):
        planar(clip, out=torch.empty(3, 5, 4, 5, dtype=torch.uint8))
    floats = clip.float()  # not interleaved uint8: a plain copy
    assert torch.equal(planar(floats, out=torch.empty(3, 5, 4, 4)), floats)


def test_populate_maps_the_pages_of_a_fresh_tensor_up_front():
    """Writing a populated fresh tensor page-faults (next to) nowhere; an unpopulated one faults
    once per page. Where the system cannot populate, it says so and changes nothing."""
    size = 64 << 20  # far above malloc's mmap threshold: fresh pages from the kernel

    def faults_to_fill(tensor: torch.Tensor) -> int:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        tensor.fill_(7)
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

    plain = faults_to_fill(torch.empty(size, dtype=torch.uint8))
    fresh = torch.empty(size, dtype=torch.uint8)
    ok = populate(fresh)
    assert isinstance(ok, bool) and populate(torch.empty(0)) is False
    if not ok:
        pytest.skip("this system cannot populate pages (not Linux 5.14+, or refused)")
    if plain < 1000:
        pytest.skip(f"fresh memory came in huge pages here ({plain} faults for 64 MiB)")
    assert faults_to_fill(fresh) < plain / 10
