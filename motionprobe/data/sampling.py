"""Clip samplers: where a clip of ``clip_len`` frames starts inside a video.

Positions are counted at the sampling rate: ``available`` is the number of frames of the video at
its native fps, or ``floor(duration * fps)`` when the video is resampled to ``fps``. Samplers are
pure functions of their arguments (the random one of its ``numpy.random.Generator``), so a seeded
generator gives the same clips every run.
"""

from __future__ import annotations

import numpy as np


def _max_start(available: int, clip_len: int) -> int:
    if available < 0:
        raise ValueError(f"available must be >= 0, got {available}")
    if clip_len < 1:
        raise ValueError(f"clip_len must be >= 1, got {clip_len}")
    return max(int(available) - int(clip_len), 0)


def random_clip_start(available: int, clip_len: int, rng: np.random.Generator) -> int:
    """A uniformly random start in ``[0, max(available - clip_len, 0)]``.

    A video shorter than the clip always starts at 0 (the reader then loops or pads it).

    Args:
        available: Frame positions in the video at the sampling rate.
        clip_len: Frames in the clip.
        rng: The generator to draw from (seed it for reproducible clips).

    >>> random_clip_start(100, 16, np.random.default_rng(0)) in range(0, 85)
    True
    >>> random_clip_start(10, 16, np.random.default_rng(0))
    0
    """
    high = _max_start(available, clip_len)
    return int(rng.integers(0, high + 1))


def uniform_clip_starts(available: int, clip_len: int, num_clips: int) -> list[int]:
    """``num_clips`` evenly spaced starts whose windows cover the video.

    The first clip starts at 0 and the last ends at the end of the video; one clip is the centre
    clip. Starts are non-decreasing and lie in ``[0, max(available - clip_len, 0)]``; clips overlap
    when the video is shorter than ``num_clips * clip_len``.

    Args:
        available: Frame positions in the video at the sampling rate.
        clip_len: Frames in each clip.
        num_clips: How many clips (>= 1).

    >>> uniform_clip_starts(100, 16, 1)
    [42]
    >>> uniform_clip_starts(100, 16, 3)
    [0, 42, 84]
    """
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    high = _max_start(available, clip_len)
    if num_clips == 1:
        return [high // 2]
    return [int(s) for s in np.round(np.linspace(0, high, num_clips)).astype(np.int64)]
