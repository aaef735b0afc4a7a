"""Videos kept as frame folders: MMAction2's ``img_00001.jpg ...`` and denseflow's
``flow_x_00001.jpg`` / ``flow_y_00001.jpg`` optical flow.

A folder is a video: :func:`probe_frames` counts its RGB frames (numbered from 1 without gaps),
:func:`read_frames` reads them by 0-based index and :func:`read_flow` reads flow frames, decoded
with the bound they were quantised with (denseflow's ``--bound``, 20 by default:
``flow = value / 255 * 2 * bound - bound`` pixels). A folder has no frame rate; clips are cut
from it in frames, and :data:`FOLDER_FPS` only converts them to seconds and back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from motionprobe.types import VideoError, VideoInfo

#: Frame rate a folder's info states (folders record none). Clips are cut from a folder at its
#: own rate whatever rate a model asks for, as MMAction2 does: its frames were extracted at
#: the rate its maker chose.
FOLDER_FPS = 30.0
#: The ``codec`` of a frame folder's :class:`~motionprobe.types.VideoInfo`.
CODEC = "frames"
#: Quantisation bound of denseflow's flow JPEGs (its ``--bound`` default).
FLOW_BOUND = 20.0
#: File names of RGB frames and of the two flow components, with their 1-based number.
RGB_PATTERN = re.compile(r"^(?:img|image|frame)?_?(\d+)\.(?:jpg|jpeg|png)$", re.IGNORECASE)
FLOW_PATTERNS = {
    "x": re.compile(r"^(?:flow_)?x_(\d+)\.(?:jpg|jpeg|png)$", re.IGNORECASE),
    "y": re.compile(r"^(?:flow_)?y_(\d+)\.(?:jpg|jpeg|png)$", re.IGNORECASE),
}


def _numbered(folder: Path, pattern: re.Pattern) -> list[Path]:
    """The files of ``folder`` matching ``pattern``, in number order; gaps are an error."""
    found = {}
    for p in folder.iterdir():
        match = pattern.match(p.name)
        if match:
            found[int(match[1])] = p
    if not found:
        return []
    first, last = min(found), max(found)
    missing = sorted(set(range(first, last + 1)) - set(found))
    if missing:
        raise VideoError(folder, f"frame {missing[0]} of {first}..{last} is missing")
    return [found[k] for k in range(first, last + 1)]


def frame_files(folder: str | Path) -> list[Path]:
    """The RGB frame files of a folder in order (``img_00001.jpg``, ``00001.jpg`` ...)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoError(folder, "not found: no such frame folder")
    return _numbered(folder, RGB_PATTERN)


def has_flow(folder: str | Path) -> bool:
    """Whether a frame folder holds denseflow ``flow_x``/``flow_y`` frames."""
    folder = Path(folder)
    return folder.is_dir() and any(FLOW_PATTERNS["x"].match(p.name) for p in folder.iterdir())


def _image(path: Path, flags: int) -> np.ndarray:
    image = cv2.imread(str(path), flags)
    if image is None:
        raise VideoError(path, "not a readable image (truncated or corrupt frame)")
    return image


def probe_frames(folder: str | Path) -> VideoInfo:
    """A frame folder as a video: its frame count and size, at :data:`FOLDER_FPS`.

    Raises:
        VideoError: not a folder, no frames, a gap in the numbering, or an unreadable first
            frame.
    """
    files = frame_files(folder)
    if not files:  # a flow-only extraction: N - 1 flow frames stand for N frames
        files = _numbered(Path(folder), FLOW_PATTERNS["x"])
        if not files:
            raise VideoError(folder, "empty frame folder: no img_00001.jpg-style frames")
        height, width = _image(files[0], cv2.IMREAD_GRAYSCALE).shape[:2]
        n = len(files) + 1
        return VideoInfo(str(folder), n / FOLDER_FPS, FOLDER_FPS, n, width, height, CODEC)
    height, width = _image(files[0], cv2.IMREAD_COLOR).shape[:2]
    n = len(files)
    return VideoInfo(str(folder), n / FOLDER_FPS, FOLDER_FPS, n, width, height, CODEC)


def read_frames(folder: str | Path, indices: Sequence[int]) -> np.ndarray:
    """RGB frames by 0-based index: ``uint8 (len(indices), H, W, 3)``."""
    files = frame_files(folder)
    out = []
    for i in indices:
        if not 0 <= int(i) < len(files):
            raise VideoError(folder, f"frame index {i} out of range: {len(files)} frames")
        out.append(cv2.cvtColor(_image(files[int(i)], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return np.stack(out)


def read_flow(folder: str | Path, indices: Sequence[int], bound: float = FLOW_BOUND) -> np.ndarray:
    """Flow fields by 0-based index, from frame ``i`` to ``i + 1``: float32 ``(2, n, H, W)``
    in pixels, ``x`` then ``y``."""
    folder = Path(folder)
    parts = {axis: _numbered(folder, pattern) for axis, pattern in FLOW_PATTERNS.items()}
    count = min(len(files) for files in parts.values())
    if count == 0:
        raise VideoError(folder, "no flow_x_00001.jpg / flow_y_00001.jpg flow frames")
    bad = [int(i) for i in indices if not 0 <= int(i) < count]
    if bad:
        raise VideoError(folder, f"flow index {bad[0]} out of range: {count} flow frames")
    fields = np.stack(
        [np.stack([_image(parts[axis][int(i)], cv2.IMREAD_GRAYSCALE) for i in indices])
         for axis in ("x", "y")]
    ).astype(np.float32)  # fmt: skip
    return fields / 255.0 * (2 * bound) - bound
