"""The spin and swarm control families: their ground truth, checked on the rendered pixels."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from scipy import ndimage

from motionprobe.data.families import spin, swarm

MODULES = {"spin": spin, "swarm": swarm}
FRAMES, SIZE, CLIPS = 16, 32, 60  # clips per class: 40 to train the probe, 20 held out


def _family(name):
    return MODULES[name].FAMILY


def _names(family: str, *cues: str) -> list[str]:
    return [s.name for s in _family(family).classes if s.cue in cues]


@cache
def _clips(family: str, name: str) -> np.ndarray:
    """``(CLIPS, T, H, W, 3)`` uint8 clips of one class, each from its own seeded generator."""
    index = _names(family, "appearance", "motion", "order").index(name)
    render = _family(family).render
    return np.stack(
        [render(name, np.random.default_rng([7, index, i]), FRAMES, SIZE) for i in range(CLIPS)]
    )


def _saturation(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.int16)
    return x.max(-1) - x.min(-1)


@pytest.mark.parametrize("family", MODULES)
def test_classes_and_render_contract(family):
    fam = _family(family)
    assert fam.name == family and len(fam.description) > 200
    cues = {c: _names(family, c) for c in ("appearance", "motion", "order")}
    assert len(cues["appearance"]) >= 3 and len(cues["motion"]) >= 3 and len(cues["order"]) >= 4
    assert "still" in cues["motion"]
    partner = {s.name: s.reverse_partner for s in fam.classes}
    for name in cues["order"]:
        assert partner[name] in cues["order"] and partner[name] != name
        assert partner[partner[name]] == name
    assert all(partner[n] is None for n in cues["appearance"] + cues["motion"])
    smoke = fam.smoke
    assert len(smoke) == 6 and sum(n in cues["appearance"] for n in smoke) == 2
    assert "still" in smoke and sum(n in cues["motion"] for n in smoke) == 2
    pair = [n for n in smoke if n in cues["order"]]
    assert len(pair) == 2 and partner[pair[0]] == pair[1]

    for s in fam.classes:
        clip = fam.render(s.name, np.random.default_rng(0), FRAMES, SIZE)
        assert clip.shape == (FRAMES, SIZE, SIZE, 3) and clip.dtype == np.uint8, s.name
        again = fam.render(s.name, np.random.default_rng(0), FRAMES, SIZE)
        assert np.array_equal(clip, again), s.name
        assert not np.array_equal(clip, fam.render(s.name, np.random.default_rng(1), FRAMES, SIZE))
    for frames, size in ((8, 64), (32, 48), (9, 33)):
        for name in (cues["appearance"][0], cues["order"][0]):
            clip = fam.render(name, np.random.default_rng(2), frames, size)
            assert clip.shape == (frames, size, size, 3), (name, frames, size)
    with pytest.raises(ValueError):
        fam.render("no_such_class", np.random.default_rng(0), FRAMES, SIZE)


def _roll_offsets(clip: np.ndarray, reach: int = 4) -> list[tuple[int, int] | None]:
    """For each frame, the integer roll of frame 0 that reproduces it exactly (None if none)."""
    shifts = [(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)]
    rolled = np.stack([np.roll(clip[0], s, axis=(0, 1)) for s in shifts])
    same = (rolled[None] == clip[:, None]).all(axis=(2, 3, 4))  # (T, shifts)
    return [shifts[int(np.argmax(row))] if row.any() else None for row in same]


@pytest.mark.parametrize("family", MODULES)
def test_still_moves_only_with_the_shared_camera_shake(family):
    shaken = 0
    for seed in range(20):
        clip = _family(family).render("still", np.random.default_rng(seed), FRAMES, SIZE)
        offsets = _roll_offsets(clip)
        assert None not in offsets, f"seed {seed}: a frame is not a roll of the first"
        shaken += any(o != (0, 0) for o in offsets)
    if family == "swarm":
        assert shaken == 0  # no camera shake in this family: the frames are identical
    else:
        assert 4 <= shaken <= 16  # a random half of the videos shake
        kwargs = dict(frames=FRAMES, size=SIZE)
        calm = spin.render("still", np.random.default_rng(0), shake=False, **kwargs)
        assert (calm == calm[:1]).all()
        jolted = spin.render("still", np.random.default_rng(0), shake=True, **kwargs)
        assert len(set(_roll_offsets(jolted))) > 3 and None not in _roll_offsets(jolted)


@pytest.mark.parametrize("size", [32, 45, 64])
def test_spin_object_never_reaches_the_edge(size):
    """The shake's wrapping roll never cuts the object: its pixels stay off the border."""
    for s in spin.CLASSES:
        for seed in range(4):
            clip = spin.render(s.name, np.random.default_rng(seed), 8, size, shake=True)
            vivid = _saturation(clip) > 80
            assert vivid.any(axis=(1, 2)).all(), (s.name, seed)  # the object shows in every frame
            border = vivid[:, [0, -1], :].any() or vivid[:, :, [0, -1]].any()
            assert not border, (s.name, seed)


SUMMARY = (
    *("red", "green", "blue", "grad_x", "grad_y", "grad_ratio"),
    *("area", "rim", "compactness", "holes", "blobs", "spread", "hu1", "hu2", "hu3"),
)


def _summary(frame: np.ndarray) -> np.ndarray:
    """The :data:`SUMMARY` statistics of one frame: colour, gradients, the vivid objects' shape."""
    grey = frame.astype(np.float64).mean(-1)
    gx, gy = np.abs(np.diff(grey, axis=1)), np.abs(np.diff(grey, axis=0))
    mask = _saturation(frame) > 80  # the objects are saturated, the backgrounds greyish
    area = max(int(mask.sum()), 1)
    rim = (mask & ~ndimage.binary_erosion(mask)).sum()
    holes = ndimage.binary_fill_holes(mask).sum() - mask.sum()
    ys, xs = np.nonzero(mask)
    spread = np.hypot(ys - (SIZE - 1) / 2, xs - (SIZE - 1) / 2).mean() if len(ys) else 0.0
    colour = frame.reshape(-1, 3).mean(0) / 255
    shape = [area, rim, rim**2 / area, holes, ndimage.label(mask)[1], spread, *_hu(mask)]
    return np.array([*colour, gx.mean(), gy.mean(), gx.mean() / gy.mean(), *shape])


def _hu(mask: np.ndarray) -> list[float]:
    """The first three Hu moments of a mask (log scale): blind to its place, turn and scale."""
    ys, xs = np.nonzero(mask)
    if len(ys) < 2:
        return [0.0, 0.0, 0.0]
    y, x = ys - ys.mean(), xs - xs.mean()

    def eta(p: int, q: int) -> float:
        return float((x**p * y**q).sum() / len(x) ** (1 + (p + q) / 2))

    hu1 = eta(2, 0) + eta(0, 2)
    hu2 = (eta(2, 0) - eta(0, 2)) ** 2 + 4 * eta(1, 1) ** 2
    hu3 = (eta(3, 0) - 3 * eta(1, 2)) ** 2 + (3 * eta(2, 1) - eta(0, 3)) ** 2
    return [float(np.log(1e-9 + h)) for h in (hu1, hu2, hu3)]


def _features(frame: np.ndarray) -> np.ndarray:
    """:func:`_summary` plus grey and saturation histograms and where the vivid pixels lie."""
    grey, sat = frame.astype(np.float64).mean(-1), _saturation(frame)
    quarter = SIZE // 4
    layout = (sat > 80).reshape(4, quarter, 4, quarter).mean((1, 3)).ravel()  # a 4x4 grid
    return np.concatenate(
        [
            np.histogram(grey, 8, (0, 256))[0] / grey.size,
            np.histogram(sat, 8, (0, 256))[0] / sat.size,
            _summary(frame),
            layout,
        ]
    )


def _one_frame_each(family: str, groups: list[list[str]], describe=_features) -> np.ndarray:
    """``(len(groups), CLIPS, F)``: one frame per clip (index ``i % FRAMES`` of clip ``i``).

    A group of several classes takes its clip ``i`` from class ``i % len(group)``.
    """
    return np.array(
        [
            [describe(_clips(family, g[i % len(g)])[i, i % FRAMES]) for i in range(CLIPS)]
            for g in groups
        ]
    )


def _confusion(x: np.ndarray) -> np.ndarray:
    """Held-out confusion matrix (rows: truth) of softmax regression on features ``(K, CLIPS, F)``.

    Clips 0-39 of every class train it (numpy gradient descent), clips 40-59 test it.
    """
    k = len(x)
    train, test = x[:, :40].reshape(-1, x.shape[2]), x[:, 40:].reshape(-1, x.shape[2])
    mean, std = train.mean(0), train.std(0) + 1e-9
    train, test = ((np.c_[(z - mean) / std, np.ones(len(z))]) for z in (train, test))
    onehot = np.repeat(np.eye(k), 40, axis=0)
    w = np.zeros((train.shape[1], k))
    for _ in range(500):
        logits = train @ w
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= 0.5 * (train.T @ (p - onehot) / len(train) + 1e-3 * w)
    guess = (test @ w).argmax(1).reshape(k, -1)
    return np.array([np.bincount(row, minlength=k) for row in guess]) / guess.shape[1]


@pytest.mark.parametrize("family", MODULES)
def test_one_frame_names_each_appearance_class(family):
    """The appearance classes, and the pooled motion and order classes, told apart by one frame."""
    groups = [[n] for n in _names(family, "appearance")] + [_names(family, "motion", "order")]
    confusion = _confusion(_one_frame_each(family, groups))
    assert np.diag(confusion).mean() >= 0.8 and np.diag(confusion).min() >= 0.7, confusion


@pytest.mark.parametrize("family", MODULES)
def test_one_frame_says_nothing_about_motion_or_order_classes(family):
    from scipy.stats import ks_2samp

    moving = _names(family, "motion", "order")
    accuracy = np.diag(_confusion(_one_frame_each(family, [[n] for n in moving]))).mean()
    assert abs(accuracy - 1 / len(moving)) < 0.15, accuracy
    # A sharper look, statistic by statistic: each class against all the others pooled.
    summary = _one_frame_each(family, [[n] for n in moving], _summary)
    for i, name in enumerate(moving):
        rest = np.delete(summary, i, axis=0).reshape(-1, summary.shape[2])
        for j in range(summary.shape[2]):
            assert ks_2samp(summary[i, :, j], rest[:, j]).pvalue > 1e-4, (name, SUMMARY[j])


def _gap(clips: np.ndarray, lag: int, reach: int) -> float:
    """Mean absolute difference between frames ``t`` and ``t + lag``, over the same ``t``.

    Frame ``t`` is first rolled by the integer offset (up to ``reach`` pixels per axis) that
    matches frame ``t + lag`` best, which undoes a camera shake. Any function of a pair of frames
    has the same mean at every lag when the frames are exchangeable, so this keeps the test exact.
    """
    x = clips.astype(np.float32).mean(-1)  # (N, T, H, W)
    start = FRAMES - 5  # t < FRAMES - 5 for every lag up to 5, so both lags see the same frames
    shifts = [(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)]
    gaps = [
        np.abs(np.roll(x[:, :start], s, axis=(2, 3)) - x[:, lag : lag + start]).mean((2, 3))
        for s in shifts
    ]
    return float(np.min(gaps, axis=0).mean())


@pytest.mark.parametrize("family", MODULES)
def test_motion_frames_are_exchangeable_and_order_frames_are_smooth(family):
    reach = 2 * spin.SHAKE if family == "spin" else 0  # two shaken frames are this far apart
    for name in _names(family, "motion"):
        near, far = _gap(_clips(family, name), 1, reach), _gap(_clips(family, name), 5, reach)
        assert abs(near - far) <= 0.08 * max(near, far) + 1e-6, (name, near, far)
    # Lag 3, not 5, for the smooth classes: the fastest spin turns 150 degrees in 5 frames, where
    # the paddle's bar nearly lies on itself again, but at most 90 in 3.
    for name in _names(family, "order"):
        near, far = _gap(_clips(family, name), 1, reach), _gap(_clips(family, name), 3, reach)
        assert near < 0.6 * far, (name, near, far)


def _wrap(a: np.ndarray, period: float) -> np.ndarray:
    return (a + period / 2) % period - period / 2


def _spin_motion(clip: np.ndarray) -> np.ndarray:
    """Mean per-frame turn of the paddle's axis and of its place around the centre (degrees)."""
    mask = _saturation(clip) > 80
    y, x = np.mgrid[:SIZE, :SIZE]
    n = mask.sum((1, 2))
    my, mx = (mask * y).sum((1, 2)) / n, (mask * x).sum((1, 2)) / n
    dy, dx = y - my[:, None, None], x - mx[:, None, None]
    mu20, mu02, mu11 = ((mask * d).sum((1, 2)) for d in (dx * dx, dy * dy, dx * dy))
    axis = 0.5 * np.arctan2(2 * mu11, mu20 - mu02)  # defined modulo pi
    place = np.arctan2(my - (SIZE - 1) / 2, mx - (SIZE - 1) / 2)
    steps = (_wrap(np.diff(axis), np.pi), _wrap(np.diff(place), 2 * np.pi))
    return np.rad2deg([s.mean() for s in steps])


def _best_shift(a: np.ndarray, b: np.ndarray, reach: int, circular: bool) -> float:
    """The shift in ``[-reach, reach]`` bins that best matches ``b`` to ``a`` moved by it.

    The best integer shift is refined to a fraction of a bin by a parabola through its scores.
    """
    shifts = np.arange(-reach, reach + 1)
    if circular:
        scores = np.array([np.dot(np.roll(a, k), b) for k in shifts])
    else:
        pad = np.pad(a, reach)
        scores = np.array([np.dot(pad[reach - k : reach - k + len(a)], b) for k in shifts])
    i = int(np.argmax(scores))
    if 0 < i < len(shifts) - 1:
        left, mid, right = scores[i - 1 : i + 2]
        if left - 2 * mid + right < 0:
            return shifts[i] + 0.5 * (left - right) / (left - 2 * mid + right)
    return float(shifts[i])


def _swarm_motion(clip: np.ndarray) -> np.ndarray:
    """Mean per-frame shift of the blobs' angle (degrees) and radius (pixels) histograms."""
    sat = _saturation(clip).astype(np.float64)
    mask = sat * (sat > 80)  # weighted by saturation: fewer ties between shifts
    y, x = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    bins = np.floor(np.rad2deg(np.arctan2(y, x)) % 360 / 4).astype(int).ravel()  # 4 degrees
    rings = np.floor(np.hypot(y, x) / 0.5).astype(int).ravel()  # half a pixel
    angle = [np.bincount(bins, m.ravel(), 90) for m in mask]
    radius = [np.bincount(rings, m.ravel(), rings.max() + 1) for m in mask]
    turn = [_best_shift(a, b, 8, True) for a, b in zip(angle, angle[1:], strict=False)]
    grow = [_best_shift(a, b, 4, False) for a, b in zip(radius, radius[1:], strict=False)]
    return np.array([4.0 * np.mean(turn), 0.5 * np.mean(grow)])


@pytest.mark.slow
@pytest.mark.parametrize("family", MODULES)
def test_reversed_order_clip_moves_like_its_partner(family):
    measure = _spin_motion if family == "spin" else _swarm_motion
    partners = {s.name: s.reverse_partner for s in _family(family).classes if s.cue == "order"}
    for a, b in partners.items():
        forward = np.mean([measure(c) for c in _clips(family, a)], axis=0)
        backward = np.mean([measure(c[::-1]) for c in _clips(family, a)], axis=0)
        partner = np.mean([measure(c) for c in _clips(family, b)], axis=0)
        # Turning classes (spin, swirl) move along the first statistic, the others the second;
        # names ending in _cw / _out must move clockwise on screen (y down) / outwards.
        main = 0 if a.startswith(("spin_", "swirl_")) else 1
        assert main == int(np.argmax(np.abs(forward))), (a, forward)
        scale = abs(forward[main])
        assert scale > (0.2 if family == "swarm" and main == 1 else 5.0)  # pixels or degrees
        assert (forward[main] > 0) == a.endswith(("_cw", "_out")), (a, forward)
        assert np.sign(partner[main]) == -np.sign(forward[main]), (a, forward, partner)
        assert np.abs(backward - partner).max() < 0.2 * scale, (a, backward, partner)
        assert np.abs(backward + forward).max() < 0.2 * scale, (a, backward, forward)


def _shape_change(clip: np.ndarray) -> float:
    """Mean 1 - IoU of the vivid object's mask in each frame against frame 0, centroids aligned."""
    masks = _saturation(clip) > 80
    first = masks[0]
    centre = np.array(ndimage.center_of_mass(first))
    change = []
    for m in masks[1:]:
        shift = np.round(centre - np.array(ndimage.center_of_mass(m))).astype(int)
        m = np.roll(m, tuple(shift), axis=(0, 1))
        change.append(1 - (first & m).sum() / (first | m).sum())
    return float(np.mean(change))


def test_spin_appearance_objects_never_turn():
    # A turning cross shows its turn and a turning disc does not: the seen motion would name the
    # shape. Appearance objects only move along their orbit, so their outline stays (up to pixel
    # rounding: 1 - IoU ~0.1), while a spinning paddle's changes (~0.7).
    for name in _names("spin", "appearance"):
        assert max(_shape_change(c) for c in _clips("spin", name)) < 0.35, name
    assert min(_shape_change(c) for c in _clips("spin", "spin_cw")) > 0.5
