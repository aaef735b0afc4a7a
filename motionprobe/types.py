"""Layout constants and the small dataclasses that cross module borders."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

#: Index of the time axis in a model batch ``(B, C, T, H, W)``.
TIME_DIM = 2

#: Containers found in downloaded Kinetics/UCF101/HMDB51 copies.
VIDEO_EXTENSIONS = (
    ".mp4",
    ".mkv",
    ".webm",
    ".avi",
    ".mov",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".ogv",
    ".flv",
    ".3gp",
)

#: Ground-truth cues of synthetic classes (see ``docs/design.md#synthetic-controls``).
CUES = ("appearance", "motion", "order")

#: What a class needs to be recognised, as decided by :func:`motionprobe.verdict.taxonomy`.
VERDICTS = ("single_frame", "bag_of_frames", "ordered_sequence", "inconclusive")

SPLITS = ("train", "val", "test")

#: Columns of a Kinetics split CSV; extra columns (``is_cc``) are ignored.
KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")

#: Policies for a video shorter than the requested clip.
SHORT_POLICIES = ("loop", "pad", "error")
#: What a dataset item carries: RGB frames, flow fields, or both (aligned).
MODALITIES = ("rgb", "flow", "rgb+flow")


class RunError(ValueError):
    """A run that cannot start as asked: a folder another run holds or wrote with other
    settings, a bad option. The message names the file or option and the way out; the command
    line prints it as one line and exits with status 3.
    """


class VideoError(Exception):
    """A video that cannot be used, with the file and the reason.

    Args:
        path: The offending file.
        reason: Why it cannot be used, in a few words.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


#: A ``--data`` value that forces a dataset layout: ``LAYOUT[@FOLD]:PATH``
#: (:class:`motionprobe.data.layouts.DataSpec`).
DATA_SPEC = re.compile(r"^(?P<layout>[a-z][a-z0-9_]*)(?:@(?P<fold>\d+))?:(?P<root>.+)$")


def absolute_data(data: str | Path) -> str:
    """A ``--data`` value with its folder made absolute (a ``LAYOUT[@FOLD]:`` prefix kept).

    >>> absolute_data("ucf101@2:/data/UCF101"), absolute_data("/data/k400")
    ('ucf101@2:/data/UCF101', '/data/k400')
    """
    text = str(data)
    match = DATA_SPEC.match(text)
    if match is None or Path(text).exists():
        return str(Path(text).resolve())
    prefix = text[: match.start("root")]
    return f"{prefix}{Path(match['root']).resolve()}"


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`motionprobe.video.probe` learns about a file.

    ``num_frames`` agrees with a full decode of the first video stream. A ``truncated`` file
    (probed under the ``use`` policy of :data:`motionprobe.video.TRUNCATED_POLICIES`) counts
    only the frames before its damage; ``declared_frames`` is what its header claims (0 when it
    claims nothing). ``first_frame`` is where a segment of the file starts (the dataset's view
    of a :class:`VideoRecord` with a ``segment``; 0 for a whole file).
    """

    path: str
    duration: float
    fps: float
    num_frames: int
    width: int
    height: int
    codec: str = ""
    truncated: bool = False
    declared_frames: int = 0
    first_frame: int = 0


@dataclass(frozen=True)
class VideoRecord:
    """One labelled video of a dataset (not yet decoded).

    ``segment`` is ``(start, end)``: the native-rate frames ``start .. end - 1`` of the file
    are the video (an untrimmed source's clip); ``None``: the whole file.
    """

    path: Path
    label: str
    video_id: str
    split: str | None = None
    segment: tuple[int, int] | None = None


@dataclass(frozen=True)
class ClassSpec:
    """One synthetic class, as written to ``classes.json``."""

    name: str
    cue: str
    reverse_partner: str | None = None
    description: str = ""


@dataclass
class BadItem:
    """A video skipped by a run, with the reason; runs list these in their outputs.

    ``used`` marks a video that was *not* skipped but is listed all the same: a truncated file
    read up to its damage under the ``use`` policy (:data:`motionprobe.video.TRUNCATED_POLICIES`).
    """

    video_id: str
    path: str
    reason: str
    extra: dict = field(default_factory=dict)
    used: bool = False


def kinetics_filename(youtube_id: str, time_start: int, time_end: int, ext: str = ".mp4") -> str:
    """Kinetics file name ``{youtube_id}_{start:06d}_{end:06d}{ext}``.

    >>> kinetics_filename("abc", 5, 15)
    'abc_000005_000015.mp4'
    """
    return f"{youtube_id}_{int(time_start):06d}_{int(time_end):06d}{ext}"
