"""Interventions: shapes kept, known answers, permutation properties, seeded determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from motionprobe import interventions as iv
from motionprobe.interventions import (
    INTERVENTIONS,
    appearance_free,
    conflict,
    freeze,
    inject_motion,
    is_random,
    keep_indices,
    motion_energy,
    occlude,
    parse,
    reverse,
    shuffle,
    single_frame,
    subsample,
    warp_forward,
)

NOISE_MEAN, NOISE_STD = 127.5, 255 / 12**0.5  # uniform on [0, 255): 127.5, 73.6


def clip(b=3, t=8, h=8, w=10):
    # Frame t of every clip holds the value t (+100 per clip) so indices can be read back.
    values = torch.arange(t).float().view(1, 1, t, 1, 1) + 100 * torch.arange(b).view(b, 1, 1, 1, 1)
    return values.expand(b, 3, t, h, w).contiguous()


def frames_of(y):
    """Frame values ``(B, T)`` of a clip made by :func:`clip` (every pixel of a frame is equal)."""
    return y[:, 0, :, 0, 0]


def texture(h=64, w=64, seed=0, smooth=0.0):
    rng = np.random.default_rng(seed)
    img = rng.uniform(0, 255, size=(h, w, 3)).astype(np.float32)
    if smooth:
        img = cv2.GaussianBlur(img, (0, 0), smooth)
        img = (img - img.min()) / (img.max() - img.min()) * 255
    return img


def translated_clip(img, t, dx, dy=0):
    """``(1, 3, T, H, W)``: ``img`` rolled by ``(dx, dy)`` px per frame (wrapping)."""
    frames = np.stack([np.roll(img, (s * dy, s * dx), axis=(0, 1)) for s in range(t)])
    return torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0).float().contiguous()


def gen(seed):
    return torch.Generator().manual_seed(seed)


def corr(a, b):
    return float(np.corrcoef(np.asarray(a).ravel(), np.asarray(b).ravel())[0, 1])


# --- every registered intervention --------------------------------------------------------------


STANDALONE = sorted(n for n, d in INTERVENTIONS.items() if d.standalone)


def test_registry_describes_every_intervention():
    assert set(STANDALONE) == {
        "clean", "freeze", "single_frame", "shuffle", "reverse", "subsample", "occlude",
        "appearance_free", "inject_motion",
    }  # fmt: skip
    assert {n for n, d in INTERVENTIONS.items() if not d.keeps_length} == {"single_frame"}
    assert {n for n, d in INTERVENTIONS.items() if d.needs_partner} == {"conflict"}
    assert {n for n, d in INTERVENTIONS.items() if d.needs_generator} == {"generate"}
    assert {n for n, d in INTERVENTIONS.items() if d.needs_flow} == {"appearance_free"}
    assert {n: d.fills for n, d in INTERVENTIONS.items() if d.fills} == {
        "freeze": "held frames", "subsample": "held frames", "generate": "generator",
    }  # fmt: skip
    with pytest.raises(ValueError, match="already registered"):
        iv.register_intervention(iv.Intervention("freeze", freeze))
    with pytest.raises(ValueError, match="engine supplies"):
        INTERVENTIONS["generate"](clip())


@pytest.mark.parametrize("name", STANDALONE)
def test_shape_dtype_device_kept(name):
    x = clip()
    params = {"k": 3} if name == "subsample" else {}
    y = INTERVENTIONS[name](x, **params, generator=gen(0))
    expected = x.shape if INTERVENTIONS[name].keeps_length else (3, 3, 1, 8, 10)
    assert y.shape == expected and y.dtype == x.dtype and y.device == x.device


RANDOM_VARIANTS = [
    ("shuffle", {}),
    ("shuffle", {"window": 3}),
    ("appearance_free", {}),
    ("inject_motion", {}),
    ("occlude", {}),
    ("freeze", {"index": "random"}),
    ("single_frame", {"index": "random"}),
]


@pytest.mark.parametrize(("name", "params"), RANDOM_VARIANTS)
def test_random_ones_seeded(name, params):
    x = clip(b=3, t=16) + torch.rand(3, 3, 16, 8, 10, generator=gen(9))  # distinct pixels
    y = INTERVENTIONS[name](x, **params, generator=gen(1))
    assert torch.equal(y, INTERVENTIONS[name](x, **params, generator=gen(1)))
    assert not torch.equal(y, INTERVENTIONS[name](x, **params, generator=gen(2)))
    assert is_random(name, params)


@pytest.mark.parametrize("name", [n for n in STANDALONE if not INTERVENTIONS[n].random])
def test_deterministic_ones_ignore_generator(name):
    x = clip(t=8)
    params = {"k": 3} if name == "subsample" else {}
    assert torch.equal(
        INTERVENTIONS[name](x, **params, generator=gen(1)),
        INTERVENTIONS[name](x, **params, generator=gen(2)),
    )
    assert not is_random(name, params)


# --- freeze / single_frame -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "frame"),
    [(None, 4), ("middle", 4), ("first", 0), ("last", 7), (0, 0), (-1, 7), (3, 3)],
)
def test_freeze_known_frame(index, frame):
    y = freeze(clip(t=8), index=index)
    assert (frames_of(y) % 100 == frame).all()
    assert torch.equal(
        frames_of(single_frame(clip(t=8), index=index)) % 100, torch.full((3, 1), frame)
    )


def test_freeze_random_is_per_clip_and_all_frames_equal():
    x = clip(b=6, t=8)
    y = freeze(x, index="random", generator=gen(0))
    assert (y == y[:, :, :1]).all()  # all frames equal within each clip
    picked = frames_of(y)[:, 0] % 100
    assert len(set(picked.tolist())) > 1  # each clip draws its own frame
    assert torch.equal(single_frame(x, index="random", generator=gen(0))[:, :, 0], y[:, :, 0])


def test_freeze_bad_index():
    with pytest.raises(IndexError):
        freeze(clip(t=8), index=8)
    with pytest.raises(IndexError):
        freeze(clip(t=8), index=-9)
    with pytest.raises(ValueError):
        freeze(clip(t=8), index="centre")


# --- shuffle / reverse ---------------------------------------------------------------------------


def test_shuffle_global_is_a_permutation_per_clip():
    x = clip(b=4, t=16)
    frames = frames_of(shuffle(x, generator=gen(1)))
    assert torch.equal(frames.sort(dim=1).values, frames_of(x))
    assert not torch.equal(frames, frames_of(x))
    # Each clip draws its own permutation.
    assert not torch.equal(frames[0] % 100, frames[1] % 100)
    # A window covering the clip is the global shuffle.
    assert torch.equal(shuffle(x, window=16, generator=gen(1)), shuffle(x, generator=gen(1)))


@pytest.mark.parametrize("window", [2, 3, 5])
def test_shuffle_local_stays_within_windows(window):
    x = clip(b=4, t=16)
    frames = frames_of(shuffle(x, window=window, generator=gen(3))) % 100
    for row in frames.long().tolist():
        for start in range(0, 16, window):  # the last window is shorter when window does not divide
            assert sorted(row[start : start + window]) == list(
                range(start, min(start + window, 16))
            )
    assert not torch.equal(frames, frames_of(x) % 100)


def test_shuffle_bad_window():
    with pytest.raises(ValueError):
        shuffle(clip(), window=0)


def test_reverse_known_answer_and_involution():
    x = clip(t=5)
    assert frames_of(reverse(x))[0].tolist() == [4.0, 3.0, 2.0, 1.0, 0.0]
    assert torch.equal(reverse(reverse(x)), x)


# --- subsample -----------------------------------------------------------------------------------


def test_keep_indices_centred():
    assert keep_indices(8, 2).tolist() == [2, 6]
    assert keep_indices(8, 1).tolist() == [4]
    assert keep_indices(16, 4).tolist() == [2, 6, 10, 14]
    assert keep_indices(10, 3).tolist() == [1, 5, 8]  # floor(1.67), floor(5), floor(8.33)
    assert keep_indices(7, 7).tolist() == list(range(7))
    assert keep_indices(8, 2).dtype == torch.long


@pytest.mark.parametrize(
    ("t", "k", "mode", "expected"),
    [
        (8, 2, "nearest", [2, 2, 2, 2, 6, 6, 6, 6]),
        (8, 2, "loop", [2, 6, 2, 6, 2, 6, 2, 6]),
        (8, 4, "nearest", [1, 1, 3, 3, 5, 5, 7, 7]),
        (8, 4, "loop", [1, 3, 5, 7, 1, 3, 5, 7]),
        (8, 1, "nearest", [4] * 8),
        (8, 1, "loop", [4] * 8),
        (6, 4, "nearest", [0, 2, 2, 3, 5, 5]),  # segments [0,1) [1,3) [3,4) [4,6)
        (6, 4, "loop", [0, 2, 3, 5, 0, 2]),
    ],
)
def test_subsample_known_answers(t, k, mode, expected):
    y = subsample(clip(b=2, t=t), k, mode=mode)
    assert (frames_of(y) % 100).long().tolist() == [expected, expected]


def test_subsample_k_equals_t_and_bad_k():
    x = clip(t=8)
    assert subsample(x, 8) is x
    for k in (0, 9):
        with pytest.raises(ValueError):
            subsample(x, k)
    with pytest.raises(ValueError):
        subsample(x, 2, mode="linear")


# --- occlude -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "width", "fill", "expected"),
    [
        (2, 3, "zero", [0, 1, 0, 0, 0, 5, 6, 7]),
        (2, 3, "hold", [0, 1, 1, 1, 1, 5, 6, 7]),
        (0, 3, "hold", [3, 3, 3, 3, 4, 5, 6, 7]),
        (6, 4, "hold", [0, 1, 2, 3, 4, 5, 5, 5]),  # clipped to T
        (6, 4, "zero", [0, 1, 2, 3, 4, 5, 0, 0]),
        (2, 3, "mean", [0, 1, 3.5, 3.5, 3.5, 5, 6, 7]),  # the clip's mean value
    ],
)
def test_occlude_known_answers(start, width, fill, expected):
    y = occlude(clip(b=1, t=8), start=start, width=width, fill=fill)
    assert frames_of(y)[0].tolist() == expected
    assert (y == y[:, :, :, :1, :1]).all()  # each frame stays a constant image


def test_occlude_mean_is_per_channel_and_per_clip():
    x = clip(b=2, t=4)
    x[:, 1] += 10  # channel 1 brighter
    y = occlude(x, start=1, width=1, fill="mean")
    assert y[:, :, 1, 0, 0].tolist() == [[1.5, 11.5, 1.5], [101.5, 111.5, 101.5]]


def test_occlude_random_start_fits_and_differs_per_clip():
    x = clip(b=8, t=16) + 1  # no frame is 0, so zeroed frames can be read back
    y = occlude(x, width=4, fill="zero", generator=gen(0))
    starts = []
    for row in (frames_of(y) == 0).tolist():
        hidden = [s for s, z in enumerate(row) if z]
        assert hidden == list(range(hidden[0], hidden[0] + 4))  # a whole window, inside the clip
        starts.append(hidden[0])
    assert len(set(starts)) > 1  # each clip draws its own start


def test_occlude_errors():
    x = clip(t=8)
    with pytest.raises(IndexError):
        occlude(x, start=8)
    with pytest.raises(ValueError):
        occlude(x, start=0, width=0)
    with pytest.raises(ValueError):
        occlude(x, start=0, fill="blur")
    with pytest.raises(ValueError):
        occlude(x, start=0, width=8, fill="hold")  # nothing left to hold


# --- warp_forward --------------------------------------------------------------------------------


def test_warp_forward_shift_known_answer():
    img = torch.zeros(1, 2, 8, 8)
    img[0, 0, 2:4, 1:4] = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    img[0, 1] = torch.arange(64.0).view(8, 8)
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0], flow[:, 1] = 2.0, 1.0
    fill = torch.full_like(img, -1.0)
    out = warp_forward(img, flow, fill)
    # Pattern lands 2 px right and 1 px down.
    assert out[0, 0, 3:5, 3:6].tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert torch.equal(out[0, :, 1:, 2:], img[0, :, :-1, :-2])
    # The first row and the first 2 columns are holes: nothing lands there.
    assert (out[0, :, 0, :] == -1).all() and (out[0, :, :, :2] == -1).all()
    # With wrap, pixels leaving the frame come back on the other side.
    assert torch.equal(warp_forward(img, flow, fill, wrap=True), img.roll((1, 2), dims=(2, 3)))


def test_warp_forward_subpixel_rounds_half_up_and_zero_flow_is_identity():
    img = torch.arange(20.0).view(1, 1, 4, 5)
    flow = torch.zeros(1, 2, 4, 5)
    assert torch.equal(warp_forward(img, flow, torch.zeros_like(img)), img)
    flow[:, 0] = 0.5  # rounds to +1
    flow[:, 1] = 0.4  # rounds to 0
    out = warp_forward(img, flow, torch.full_like(img, -1.0))
    assert torch.equal(out[..., 1:], img[..., :-1]) and (out[..., 0] == -1).all()


def test_warp_forward_collisions_deterministic():
    img = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
    flow = torch.zeros(1, 2, 3, 3)
    flow[0, 0, 1, 0] = 2.0  # (y=1, x=0) -> (1, 2), colliding with (1, 1) -> (1, 2) below
    flow[0, 0, 1, 1] = 1.0
    flow[0, 1, 0, 2] = 1.0  # (0, 2) -> (1, 2) too
    fill = torch.full_like(img, -1.0)
    out = warp_forward(img, flow, fill)
    # Sources into (1, 2): linear indices 2, 3, 4 and 5 (itself); the largest, 5, wins.
    assert out[0, 0].tolist() == [[1.0, 2.0, -1.0], [-1.0, -1.0, 6.0], [7.0, 8.0, 9.0]]
    for _ in range(3):
        assert torch.equal(warp_forward(img, flow, fill), out)
    # Non-finite vectors move nothing; their source stays a hole unless something lands there.
    flow[0, 0, 2, 2] = float("nan")
    assert warp_forward(img, flow, fill)[0, 0, 2, 2] == -1


# --- appearance-free -----------------------------------------------------------------------------


def assert_noise_frame(frame, original):
    """One ``(C, H, W)`` frame looks like i.i.d. uniform noise, independent of ``original``."""
    f = frame.numpy()
    assert abs(f.mean() - NOISE_MEAN) < 5 and abs(f.std() - NOISE_STD) < 5
    assert abs(corr(f, original.numpy())) < 0.1
    assert abs(corr(f[:, :, 1:], f[:, :, :-1])) < 0.1  # horizontal neighbours
    assert abs(corr(f[:, 1:], f[:, :-1])) < 0.1  # vertical neighbours


def test_appearance_free_with_exact_flow():
    t = 6
    x = translated_clip(texture(64, 64, smooth=1.0), t, dx=2)
    flow = torch.zeros(1, 2, t - 1, 64, 64)
    flow[:, 0] = 2.0
    y = appearance_free(x, flow=flow, generator=gen(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    for s in range(t):
        assert_noise_frame(y[0, :, s], x[0, :, s])
    for s in range(t - 1):
        # Frame t+1 is frame t moved 2 px right, except the 2 hole columns at the left edge.
        same = y[0, :, s + 1, :, 2:] == y[0, :, s, :, :-2]
        assert same.float().mean() >= 0.9 and same.all()
        assert torch.equal(y[0, :, s + 1, :, :2], y[0, :, 0, :, :2])  # holes refilled from noise
    # A T-field flow is accepted (its last field unused); seeded.
    longer = torch.cat([flow, flow[:, :, :1]], dim=2)
    assert torch.equal(appearance_free(x, flow=longer, generator=gen(0)), y)
    assert not torch.equal(appearance_free(x, flow=flow, generator=gen(1)), y)
    with pytest.raises(ValueError):
        appearance_free(x, flow=flow[:, :, :3], generator=gen(0))


def test_appearance_free_computes_flow_with_farneback():
    x = translated_clip(texture(32, 32, smooth=1.5), 4, dx=1)
    y = appearance_free(x, generator=gen(0))
    assert y.shape == x.shape
    for s in range(4):
        f = y[0, :, s].numpy()
        assert abs(f.mean() - NOISE_MEAN) < 5 and abs(f.std() - NOISE_STD) < 5


# --- inject_motion -------------------------------------------------------------------------------


@pytest.mark.parametrize("index", ["middle", "first", 2])
def test_inject_motion_zero_magnitude_is_freeze(index):
    x = translated_clip(texture(16, 20), 5, dx=1)
    y = inject_motion(x, index=index, translate=0, rotate=0, zoom=0, generator=gen(0))
    assert torch.equal(y, freeze(x, index))
    assert float(motion_energy(y)[0]) == 0


@pytest.mark.parametrize(
    "magnitudes",
    [
        {"translate": 0.1, "rotate": 0.0, "zoom": 0.0},
        {"translate": 0.0, "rotate": 10.0, "zoom": 0.0},
        {"translate": 0.0, "rotate": 0.0, "zoom": 0.1},
        {},
    ],
)
def test_inject_motion_moves_the_frame(magnitudes):
    img = texture(32, 40, smooth=1.0)
    x = torch.cat([translated_clip(img, 8, dx=1), translated_clip(img[::-1], 8, dx=2)])
    y = inject_motion(x, **magnitudes, generator=gen(4))
    frozen = freeze(x)
    assert torch.equal(y[:, :, 0], frozen[:, :, 0])  # the trajectory starts at the identity
    assert (motion_energy(y) > 0).all()
    assert float(y.min()) >= 0 and float(y.max()) <= 255  # bilinear, reflection: no new values
    # Smooth: consecutive steps change the frame by similar amounts, never a jump.
    steps = (y[:, :, 1:] - y[:, :, :-1]).abs().mean(dim=(1, 3, 4))
    assert (steps.max(dim=1).values < 3 * steps.min(dim=1).values).all()


def test_inject_motion_translation_known_answer():
    # Translation only, on a ramp image: the last frame is the frame shifted by the drawn end
    # point, read back with bilinear interpolation at an interior pixel.
    img = torch.arange(64.0).view(1, 1, 8, 8).expand(1, 3, 8, 8)
    x = img.unsqueeze(2).expand(1, 3, 3, 8, 8).contiguous()
    y = inject_motion(x, translate=0.25, rotate=0, zoom=0, generator=gen(0))
    u = torch.rand(1, 4, generator=gen(0)) * 2 - 1  # the draws inject_motion makes
    dx, dy = float(u[0, 0]) * 0.25 * 8, float(u[0, 1]) * 0.25 * 8
    # Content moves by (dx, dy) at the last frame: a pixel well inside reads the source p - d.
    yy, xx = 4, 4
    sx, sy = xx - dx, yy - dy
    x0, y0 = int(np.floor(sx)), int(np.floor(sy))
    ax, ay = sx - x0, sy - y0
    src = img[0, 0]
    expected = (
        (1 - ax) * (1 - ay) * src[y0, x0]
        + ax * (1 - ay) * src[y0, x0 + 1]
        + (1 - ax) * ay * src[y0 + 1, x0]
        + ax * ay * src[y0 + 1, x0 + 1]
    )
    assert float(y[0, 0, 2, yy, xx]) == pytest.approx(float(expected), abs=1e-3)


# --- conflict ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["global", "dense"])
@pytest.mark.parametrize("wrap", [False, True])
def test_conflict_zero_partner_flow_is_freeze(mode, wrap):
    x = translated_clip(texture(16, 20), 6, dx=1)
    for fields in (5, 6):
        y = conflict(x, torch.zeros(1, 2, fields, 16, 20), mode=mode, wrap=wrap)
        assert torch.equal(y, freeze(x))


def test_conflict_global_wrap_rolls_by_the_partner_motion():
    t = 6
    x = translated_clip(texture(16, 20), t, dx=3)
    partner = torch.zeros(1, 2, t - 1, 16, 20)
    partner[:, 0] = 1.0
    y = conflict(x, partner, mode="global", index="first", wrap=True)
    for s in range(t):
        assert torch.equal(y[:, :, s], x[:, :, 0].roll(s, dims=-1))


def test_conflict_global_is_the_magnitude_weighted_motion():
    # Half the partner moves right 2 px, half stays: the still half weighs nothing, so the
    # dominant motion is 2 px; a pure translation without wrap shifts a ramp by exactly 2 per step.
    img = torch.arange(32.0).view(1, 1, 1, 32).expand(1, 3, 16, 32)
    x = img.unsqueeze(2).expand(1, 3, 3, 16, 32).contiguous()
    partner = torch.zeros(1, 2, 2, 16, 32)
    partner[:, 0, :, :8] = 2.0
    y = conflict(x, partner, mode="global")
    assert torch.equal(y[:, :, 0], x[:, :, 0])
    assert torch.allclose(y[0, 0, 1, :, 4:20], img[0, 0, :, 2:18], atol=1e-4)
    assert torch.allclose(y[0, 0, 2, :, 8:24], img[0, 0, :, 4:20], atol=1e-4)


def test_conflict_dense_moves_only_where_the_partner_moved():
    t = 4
    x = translated_clip(texture(24, 24), t, dx=1)
    partner = torch.zeros(1, 2, t - 1, 24, 24)
    partner[:, 0, :, 8:12, 8:12] = -2.0  # a 4x4 region moving left 2 px per step
    y = conflict(x, partner, mode="dense", index="first")
    appearance = x[:, :, 0]
    moved = y[:, :, 1]
    assert torch.equal(moved[..., 8:12, 6:10], appearance[..., 8:12, 8:12])
    assert torch.equal(moved[..., 8:12, 10:12], appearance[..., 8:12, 10:12])  # holes: refilled
    # Outside the region and where it lands, nothing changes, at any step.
    outside = torch.ones(24, 24, dtype=torch.bool)
    outside[8:12, 6:12] = False
    assert torch.equal(y[..., outside], appearance[..., outside].unsqueeze(2).expand(1, 3, t, -1))
    assert torch.equal(y[..., 8:12, 6:10][:, :, 2], moved[..., 8:12, 8:12])  # moved again
    # Moving right, the region's pixels collide with still ones: the larger linear index (the
    # still pixel to the right) wins, deterministically.
    y = conflict(x, -partner, mode="dense", index="first")
    assert torch.equal(y[:, :, 1, 8:12, 10:12], appearance[..., 8:12, 8:10])
    assert torch.equal(y[:, :, 1, 8:12, 12:14], appearance[..., 8:12, 12:14])


def test_conflict_bad_inputs():
    x = clip(b=1, t=4)
    with pytest.raises(ValueError):
        conflict(x, torch.zeros(1, 2, 2, 8, 10))
    with pytest.raises(ValueError):
        conflict(x, torch.zeros(1, 2, 3, 8, 10), mode="both")


# --- motion energy, parse, is_random ------------------------------------------------------------


def test_motion_energy_known_answers():
    assert motion_energy(freeze(clip())).tolist() == [0.0, 0.0, 0.0]
    assert motion_energy(clip()).tolist() == [1.0, 1.0, 1.0]  # +1 per frame everywhere
    img = texture(16, 16)
    x = translated_clip(img, 4, dx=2)
    expected = float(np.abs(np.roll(img, 2, axis=1) - img).mean())
    assert float(motion_energy(x)[0]) == pytest.approx(expected, rel=1e-5) and expected > 0
    assert motion_energy(clip(t=1)).tolist() == [0.0, 0.0, 0.0]


def test_parse_params_without_eval():
    assert parse("freeze:index=3")[2] == {"index": 3}
    assert parse("freeze:index=random")[2] == {"index": "random"}
    assert parse("inject_motion:translate=0.2:rotate=5")[2] == {"translate": 0.2, "rotate": 5}
    assert parse("shuffle")[0] == "shuffle"
    with pytest.raises(ValueError):
        parse("__import__('os')")
    with pytest.raises(ValueError):
        parse("freeze:index")
    assert parse("conflict:mode=dense")[1].needs_partner  # the engine supplies the partner
    with pytest.raises(TypeError):
        parse("conflict")[1](clip())


def test_is_random_cases():
    random = {n for n, d in INTERVENTIONS.items() if d.random}
    assert random == {
        "shuffle",
        "appearance_free",
        "inject_motion",
        "occlude",
        "conflict",
        "generate",
    }
    assert is_random("shuffle") and is_random("shuffle", {"window": 4})
    assert is_random("appearance_free") and is_random("inject_motion", {"translate": 0})
    assert is_random("occlude") and not is_random("occlude", {"start": 0})
    assert is_random("freeze", {"index": "random"}) and not is_random("freeze", {"index": 3})
    assert not is_random("freeze") and not is_random("reverse") and not is_random("clean")
    assert is_random("single_frame", {"index": "random"}) and not is_random("subsample", {"k": 2})
    assert is_random("freeze:index=random", {"index": "random"})
