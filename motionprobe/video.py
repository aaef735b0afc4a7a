"""Video I/O with PyAV: probe a file, read a clip (seek, resample to a target fps), write video.

Decoded frames are ``uint8`` RGB arrays ``(T, H, W, 3)``. Times are seconds from the first frame of
the file's first video stream, and a frame index counts frames as a full PyAV decode of that stream
yields them (0-based). Only the first video stream is demuxed; audio is never read.

Two clocks give frames their time:

* most containers (MP4, MKV, WebM, MOV, ...) store presentation timestamps: a frame's time is
  its pts;
* AVI stores none (the pts FFmpeg derives are wrong whenever B-frames reorder frames): a frame's
  time is its index / fps, the index counted from the keyframe a seek landed on; where packets do
  not map one to one onto frames (mpeg4 with packed B-frames), from the file start.

Every problem with a file raises :class:`~motionprobe.types.VideoError` naming the file and the
reason.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from motionprobe.io import atomic_path
from motionprobe.types import SHORT_POLICIES, VIDEO_EXTENSIONS, VideoError, VideoInfo

__all__ = ["probe", "read_clip", "read_frames", "set_decoder_threads", "write_video"]

# Codecs where each non-empty packet decodes to exactly one displayed frame, provided the stream
# starts on a keyframe; for these, counting packets equals a full decode. Others (mpeg4 with packed
# B-frames or not-coded frames, vp8 with hidden alt-ref frames, ...) are counted by decoding.
_ONE_FRAME_PER_PACKET = frozenset(
    "h264 hevc vp9 av1 mjpeg png ffv1 rawvideo utvideo huffyuv ffvhuff prores dnxhd".split()
)

# Demuxers without presentation timestamps: frames are numbered by counting instead.
_INDEX_CLOCK_FORMATS = frozenset({"avi"})

# Demuxers whose header frame count is an exact sample table: fewer packets means a truncated file.
_EXACT_COUNT_FORMATS = frozenset({"mov", "mp4"})

# Signatures of the common containers, to tell a truncated video from a file that is not one.
_SIGNATURES = (
    (4, b"ftyp", "MP4/MOV"),
    (4, b"moov", "MP4/MOV"),
    (4, b"mdat", "MP4/MOV"),
    (4, b"free", "MP4/MOV"),
    (4, b"wide", "MP4/MOV"),
    (8, b"AVI ", "AVI"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (0, b"FLV", "FLV"),
    (0, b"OggS", "Ogg"),
    (0, b"\x00\x00\x01\xba", "MPEG-PS"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "ASF/WMV"),
)


# Decoder threads per opened file; 0 lets FFmpeg choose (about one per core).
_DECODER_THREADS = 0


# Frames of at most this many pixels are converted to RGB by one scaler thread. PyAV before 17
# takes no thread count (and its scaler used one thread).
_ONE_SCALER_THREAD = 640 * 480
_SCALER_THREADS = int(av.__version__.split(".")[0]) >= 17


def set_decoder_threads(count: int) -> int:
    """Set how many threads each decoder this process opens from now on may use.

    FFmpeg's default is one per core (plus one), which is right for one process but
    oversubscribes the cores when several DataLoader workers decode at once; the loaders give
    each worker its share of the cores instead. The count also sets the threads that convert
    frames larger than 640x480 to RGB (smaller ones use one). Threading never changes the
    decoded frames (FFmpeg's decoders are bit-exact whatever the thread count).

    Args:
        count: Threads per decoder; 0 restores FFmpeg's choice.

    Returns:
        The previous setting.
    """
    global _DECODER_THREADS
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    previous, _DECODER_THREADS = _DECODER_THREADS, int(count)
    return previous


#: What to do with a truncated video, one whose data ends early (a download cut short: a damaged
#: last packet, or fewer frames than an exact sample table declares): ``skip`` refuses it (a
#: :class:`VideoError`, so runs list it as a bad item); ``use`` takes the frames decoded before
#: the damage as the whole video (:func:`probe` counts only those, so clips are sampled within
#: them) and reports it as truncated. Damage followed by more data is corruption, refused either
#: way, and so is an MP4 whose index was cut away (nothing can be located).
TRUNCATED_POLICIES = ("skip", "use")


class _Video:
    """An open file's first video stream, its clock, and forward decoding from a seek.

    A frame is identified by an integer *key*: its pts for presentation-timestamp clocks, its index
    for AVI's index clock. Keys increase in display order. ``truncated`` is a policy of
    :data:`TRUNCATED_POLICIES`; the attribute ``cut`` becomes True once a truncation was met.
    """

    def __init__(self, path: str | Path, truncated: str = "skip") -> None:
        if truncated not in TRUNCATED_POLICIES:
            raise ValueError(f"truncated must be one of {TRUNCATED_POLICIES}, got {truncated!r}")
        self.path = str(path)
        self.use_truncated = truncated == "use"
        self.cut = False
        self._open()
        self.fps = _stream_fps(self.path, self.stream)
        self.time_base = self.stream.time_base
        format_names = set(self.container.format.name.split(","))
        self.index_clock = bool(format_names & _INDEX_CLOCK_FORMATS)
        self.one_to_one = self.stream.codec_context.name in _ONE_FRAME_PER_PACKET
        # On the index clock a seek's first frame is numbered by its packet's position, which
        # is its display index only where packets and frames correspond one to one (not for
        # mpeg4's packed B-frames or open GOPs); elsewhere AVI decodes from the start.
        self.can_seek = self.one_to_one or not self.index_clock
        self.exact_declared_count = bool(format_names & _EXACT_COUNT_FORMATS)
        self.origin = self.stream.start_time or 0  # stream timestamp of the first frame
        self.first_key = 0 if self.index_clock else self.origin
        # A key is one frame on the index clock, one tick of time_base otherwise.
        self.keys_per_second = self.fps if self.index_clock else float(1 / self.time_base)
        self.keys_per_frame = self.keys_per_second / self.fps
        # Seconds within which a frame counts as being at a sample time: timestamps are rounded to
        # the clock's tick (a millisecond in MKV/WebM, a third of a frame at 30 fps).
        self.tolerance = min(0.5 / self.keys_per_second, 0.25 / self.fps) + 1e-6

    def _open(self) -> None:
        self.container = _open_container(self.path)
        try:
            self.stream = _first_video_stream(self.path, self.container)
        except BaseException:
            self.container.close()
            raise
        # Frame and slice threads: about 1.4x faster h264 clips on 2 cores than one thread.
        self.stream.thread_type = "AUTO"
        if _DECODER_THREADS:
            self.stream.codec_context.thread_count = _DECODER_THREADS
        self._fresh = True  # positioned at the first packet
        self.converter = VideoReformatter()

    def __enter__(self) -> _Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.close()

    def time(self, key: int) -> float:
        """Seconds from the first frame."""
        return (key - self.first_key) / self.keys_per_second

    def key_at(self, seconds: float) -> int:
        """The largest key whose time is at most ``seconds`` (within the tolerance)."""
        return self.first_key + math.floor((seconds + self.tolerance) * self.keys_per_second)

    def frames(self, target: int | None = None) -> Iterator[tuple[int, av.VideoFrame]]:
        """``(key, frame)`` in display order, from the latest keyframe at or before key ``target``.

        ``None`` decodes from the first frame. Index timestamps of some files make a seek land
        after the target (e.g. a keyframe whose dts is early but whose pts is late), and AVI
        indexes may flag non-keyframes as keyframes; then seek again 1 s, 2 s, 4 s, ... earlier,
        down to the file start.
        """
        back = 0.0
        while True:
            at = None if target is None else target - round(back * self.keys_per_second)
            if at is not None and (at <= self.first_key or not self.can_seek):
                at = None
            if at is None:
                self._rewind()
            elif not self._seek(at):
                at = None
            self._fresh = False
            decoded = self._decode()
            first = next(decoded, None)
            if at is None or (
                first is not None
                and first[0] <= target
                and (first[1].key_frame or not self.index_clock)
            ):
                break
            decoded.close()
            back = max(1.0, 2 * back)
        if first is not None:
            yield first
            yield from decoded

    def _seek(self, key: int) -> bool:
        """Seek to the keyframe at or before ``key``.

        Where the file cannot seek, reopen it (back at the first frame) and return False.
        """
        timestamp = key
        if self.index_clock:
            timestamp = self.origin + round(key / (self.fps * self.time_base))
        try:
            self.container.seek(timestamp, stream=self.stream, backward=True)
        except av.error.FFmpegError:  # raw streams (.h264, ...) have no index to seek in
            self.container.close()
            self._open()
            return False
        return True

    def _rewind(self) -> None:
        """Position at the first frame."""
        if not self._fresh:
            self._seek(self.first_key)

    def _damaged(self, packet: av.Packet, damaged: bool, where: str) -> bool:
        """Whether ``packet`` is to be left undecoded: under the ``use`` policy, a damaged packet
        that ends the data (and the flush packet after it is still decoded). Raises otherwise."""
        if damaged and packet.size > 0:
            raise VideoError(self.path, f"corrupt data {where}: more data follows damaged data")
        if not packet.is_corrupt:
            return False
        if not self.use_truncated:
            raise VideoError(self.path, f"truncated or corrupt data {where}")
        self.cut = True
        return True

    def _decode(self) -> Iterator[tuple[int, av.VideoFrame]]:
        """Decode forward from the container's position, giving each frame its key."""
        prev: int | None = None
        anchor: int | None = None  # index clock: index of the first frame decoded from here
        count = 0
        packet_time = 0.0
        damaged = False
        try:
            for packet in self.container.demux(self.stream):
                if packet.dts is not None:
                    packet_time = float((packet.dts - self.origin) * self.time_base)
                    if anchor is None and packet.size > 0:
                        anchor = round(packet_time * self.fps)
                if self._damaged(packet, damaged, f"near t={packet_time:.2f}s"):
                    damaged = True
                    continue
                for frame in packet.decode():
                    if self.index_clock:
                        key = (anchor or 0) + count
                    elif frame.pts is not None and (prev is None or frame.pts > prev):
                        key = frame.pts
                    else:  # missing or non-increasing pts: assume the nominal frame duration
                        key = self.origin if prev is None else prev + round(self.keys_per_frame)
                    count += 1
                    prev = key
                    yield key, frame
        except av.error.FFmpegError as error:
            raise VideoError(
                self.path,
                f"decode error near t={packet_time:.2f}s (truncated or corrupt file): {error}",
            ) from error

    def scan(self) -> tuple[list[int], list[int]] | None:
        """Keys of all frames and indices of keyframes, from demuxing alone (no decoding).

        Returns ``None`` where packets cannot be trusted to match decoded frames one to one; then
        only a full decode tells. Raises :class:`VideoError` on truncated or corrupt data.
        """
        keys: list[int] = []
        keyframe_keys: list[int] = []
        stored = 0  # packets with data, edit-list discards included (as a header counts them)
        one_to_one = self.one_to_one
        damaged = False
        try:
            for packet in self.container.demux(self.stream):
                if self._damaged(packet, damaged, f"after {len(keys)} frames"):
                    damaged = True
                    continue
                if packet.size == 0:  # PyAV's closing flush packet, or an AVI dropped frame
                    continue
                stored += 1
                if packet.is_discard:  # the decoder drops its frame
                    continue
                if not keys and not packet.is_keyframe:
                    one_to_one = False  # the decoder drops frames until the first keyframe
                key = len(keys) if self.index_clock else packet.pts
                if self.index_clock and packet.dts != self.origin + len(keys):
                    one_to_one = False  # dropped-frame chunks: indices and timestamps part
                if key is None:
                    one_to_one = False
                    key = -1
                keys.append(key)
                if packet.is_keyframe:
                    keyframe_keys.append(key)
        except av.error.FFmpegError as error:
            raise VideoError(
                self.path, f"demux error after {len(keys)} frames (truncated or corrupt): {error}"
            ) from error
        finally:
            self._fresh = False
        self._check_count(stored)
        keys.sort()
        if not one_to_one or len(set(keys)) != len(keys):
            return None
        return keys, [bisect.bisect_left(keys, key) for key in keyframe_keys]

    def _check_count(self, stored: int) -> None:
        """Compare the packets with data to an exact sample table's count (a shortfall is a
        truncation, refused or, under the ``use`` policy, noted in ``cut``)."""
        declared = self.stream.frames
        if not (self.exact_declared_count and declared > stored):
            return
        if not self.use_truncated:
            raise VideoError(
                self.path,
                f"truncated: the header declares {declared} frames but the data holds {stored}",
            )
        self.cut = True

    def rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """``uint8 (H, W, 3)``; refuses frames the decoder flagged as damaged.

        Checked only on frames that are returned: broken leading frames of an open GOP after a
        seek are harmless when skipped.
        """
        if frame.is_corrupt:
            raise VideoError(self.path, "corrupt frame (truncated or damaged data)")
        # One converter per file keeps its scaler context; FFmpeg's automatic scaler threads
        # cost more than they save below about VGA (a 64 px frame 0.34 -> 0.025 ms, a 340x256
        # one the same; 1080p gains from 2 threads). The pixels are the same either way.
        threads = 1 if frame.width * frame.height <= _ONE_SCALER_THREAD else _DECODER_THREADS
        options = {"threads": threads} if _SCALER_THREADS else {}
        return self.converter.reformat(frame, format="rgb24", **options).to_ndarray()

    def decoded_keys(self) -> list[int]:
        """Keys of all frames, by a full decode (no pixel conversion)."""
        return [key for key, _ in self.frames()]


def video_files(root: str | Path) -> list[Path]:
    """Files below ``root`` (any depth) with a video suffix of any case, sorted.

    Symlinked folders are followed, so a class folder linked in from another disk counts as its
    class (``Path.rglob`` before Python 3.13 skips them), but never into a folder that is its
    own ancestor, so a link loop ends. Paths keep the links (``root/split/class/name.mp4``).
    Unreadable folders are skipped, as ``rglob`` skips them.
    """
    found: list[Path] = []

    def visit(folder: Path, above: frozenset[str]) -> None:
        try:
            entries = list(os.scandir(folder))
        except (PermissionError, FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            path = folder / entry.name
            if entry.is_dir():  # follows a link
                real = os.path.realpath(path)
                if real not in above:
                    visit(path, above | {real})
            elif entry.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
                found.append(path)

    visit(Path(root), frozenset({os.path.realpath(root)}))
    return sorted(found)


def probe(path: str | Path, truncated: str = "skip") -> VideoInfo:
    """Describe a video file's first video stream, with an exact frame count.

    Containers often misreport frame counts, so ``num_frames`` comes from the data: the video
    packets are demuxed (not decoded) and counted, which equals a full decode for codecs that put
    one frame in each packet (h264, hevc, vp9, av1, intra codecs) when the stream starts on a
    keyframe. Other codecs (e.g. mpeg4, whose packed B-frames and not-coded frames break the
    one-to-one rule) are counted by a full decode.

    Args:
        path: A video file.
        truncated: A policy of :data:`TRUNCATED_POLICIES`; with ``use``, a truncated file's
            frames before the damage are counted and its info says ``truncated``.

    Returns:
        ``VideoInfo`` with ``duration`` in seconds (first frame to the end of the last one; for AVI
        ``num_frames / fps``), ``fps`` the average frame rate (29.97 for NTSC), the frame size,
        the codec name, ``truncated`` and the frame count the header declares.

    Raises:
        VideoError: missing or empty file, not a video, no video stream, unreadable header,
            corrupt data, or truncated data under the ``skip`` policy.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "grey.mp4"
    >>> _ = write_video(path, np.full((10, 48, 64, 3), 128, np.uint8), fps=10)
    >>> info = probe(path)
    >>> info.num_frames, info.fps, info.duration, (info.width, info.height), info.codec
    (10, 10.0, 1.0, (64, 48), 'h264')
    """
    with _Video(path, truncated) as video:
        scanned = video.scan()
        keys = scanned[0] if scanned is not None else video.decoded_keys()
        if not keys:
            raise VideoError(path, "no decodable video frames")
        if video.index_clock:
            duration = len(keys) / video.fps
        else:
            duration = video.time(keys[-1]) - video.time(keys[0]) + 1 / video.fps
        return VideoInfo(
            path=str(path),
            duration=duration,
            fps=video.fps,
            num_frames=len(keys),
            width=video.stream.width,
            height=video.stream.height,
            codec=video.stream.codec_context.name,
            truncated=video.cut,
            declared_frames=int(video.stream.frames or 0),
        )


def read_clip(
    path: str | Path,
    num_frames: int,
    start: float = 0.0,
    fps: float | None = None,
    short: str = "error",
    info: VideoInfo | None = None,
) -> np.ndarray:
    """Read ``num_frames`` frames from ``start`` seconds, at the native rate or resampled.

    Seeks to the keyframe at or before ``start`` and decodes forward, so a late clip costs about
    as much as an early one.

    Args:
        path: A video file.
        num_frames: Frames to return (``T``).
        start: Seconds from the first frame.
        fps: ``None`` takes the ``T`` consecutive frames from the first frame whose time is at least
            ``start`` (half a frame of tolerance, so a ``start`` that misses a frame time by float
            error still finds it). A rate samples times ``start + k / fps`` and takes, for each,
            the latest frame at or before it (sample and hold: 30 -> 15 fps takes every other
            frame, 10 -> 20 fps shows each frame twice).
        short: When fewer than ``T`` frames are available: ``"error"`` raises, ``"loop"`` cycles
            the available frames, ``"pad"`` repeats the last one.
        info: An earlier :func:`probe` of the file; its ``fps`` is taken as the native rate.
            Reading never needs a probe, so this only keeps the caller's notion of the rate
            and, for a file it found ``truncated``, reads it under the ``use`` policy.

    Returns:
        ``uint8`` array ``(T, H, W, 3)``, RGB.

    Raises:
        VideoError: unusable file, decode error (truncated or corrupt data), or fewer frames than
            requested with ``short="error"`` (or none at all).
        ValueError: invalid arguments.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "ramp.mkv"
    >>> ramp = np.arange(30, dtype=np.uint8)[:, None, None, None].repeat(8, 1).repeat(8, 2)
    >>> _ = write_video(path, ramp.repeat(3, 3), fps=30, lossless=True)
    >>> read_clip(path, 4, start=0.5)[:, 0, 0, 0].tolist()
    [15, 16, 17, 18]
    >>> read_clip(path, 4, start=0.5, fps=15)[:, 0, 0, 0].tolist()
    [15, 17, 19, 21]
    >>> read_clip(path, 4, start=0.9, short="pad")[:, 0, 0, 0].tolist()
    [27, 28, 29, 29]
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    if short not in SHORT_POLICIES:
        raise ValueError(f"short must be one of {SHORT_POLICIES}, got {short!r}")
    if start < 0:
        raise ValueError(f"start must be >= 0 seconds, got {start}")
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    policy = "use" if info is not None and info.truncated else "skip"
    with _Video(path, policy) as video:
        native = info.fps if info is not None else video.fps
        if fps is None:
            frames = _consecutive(video, start, 0.5 / native, num_frames)
        else:
            frames = _resampled(video, start + np.arange(num_frames) / fps, native)
    if len(frames) < num_frames:
        if short == "error" or not frames:
            raise VideoError(
                path,
                f"shorter than the requested clip: {len(frames)} frames available from "
                f"t={start:.2f}s, {num_frames} requested",
            )
        if short == "loop":
            frames = [frames[i % len(frames)] for i in range(num_frames)]
        else:
            frames = frames + [frames[-1]] * (num_frames - len(frames))
    return np.stack(frames)


def _consecutive(video: _Video, start: float, slack: float, count: int) -> list[np.ndarray]:
    """Up to ``count`` consecutive frames from the first one at or after ``start - slack``.

    Seeks to the keyframe at or before ``start`` rather than ``start - slack``: a clip starting
    on a keyframe then decodes no earlier GOP. At a constant rate no frame is missed, as at most
    one frame lies within ``slack`` (half a frame) of ``start``.
    """
    frames: list[np.ndarray] = []
    target = video.key_at(start) if start > 0 else None
    for key, frame in video.frames(target):
        if video.time(key) >= start - slack:
            frames.append(video.rgb(frame))
            if len(frames) == count:
                break
    return frames


def _resampled(video: _Video, times: np.ndarray, native_fps: float) -> list[np.ndarray]:
    """For each time (increasing), the latest frame at or before it; stops at the video end.

    The last frame lasts one native frame duration. Times before the first frame show the first.
    """

    def timed_frames() -> Iterator[tuple[float, av.VideoFrame | None]]:
        time = None
        target = video.key_at(times[0]) if times[0] > 0 else None
        for key, frame in video.frames(target):
            time = video.time(key)
            yield time, frame
        if time is not None:
            yield time + 1 / native_fps, None  # where the last frame ends

    samples: list[np.ndarray] = []
    held: av.VideoFrame | None = None
    held_rgb: np.ndarray | None = None  # converted once, only if sampled
    for time, frame in timed_frames():
        if held is None:
            held = frame
        while len(samples) < len(times) and time > times[len(samples)] + video.tolerance:
            if held_rgb is None:
                held_rgb = video.rgb(held)
            samples.append(held_rgb)
        if len(samples) == len(times) or frame is None:
            break
        if frame is not held:
            held, held_rgb = frame, None
    return samples


def read_frames(path: str | Path, indices: Sequence[int], truncated: str = "skip") -> np.ndarray:
    """Frames by index, in any order, repeats allowed.

    Indices count frames as a full decode yields them. Each frame is decoded once; decoding seeks
    ahead when a keyframe lies between the last decoded frame and the next wanted one, and
    otherwise decodes through. Codecs whose packets do not map one to one onto frames (see
    :func:`probe`) are decoded from the start.

    Args:
        path: A video file.
        indices: 0-based frame indices.
        truncated: A policy of :data:`TRUNCATED_POLICIES` (``use``: the frames before a
            truncation are the video).

    Returns:
        ``uint8`` array ``(len(indices), H, W, 3)``, RGB.

    Raises:
        VideoError: an index out of range (the message gives the frame count), or an unusable file.
        ValueError: no indices.
    """
    indices = [int(i) for i in indices]
    if not indices:
        raise ValueError("indices is empty")
    wanted = sorted(set(indices))
    if wanted[0] < 0:
        raise VideoError(path, f"frame index {wanted[0]} out of range: indices start at 0")
    got: dict[int, np.ndarray] = {}
    with _Video(path, truncated) as video:
        scanned = video.scan()
        if scanned is None:
            num_frames = _frames_in_order(video, wanted, got)
        else:
            num_frames = len(scanned[0])
            if wanted[-1] < num_frames:
                _frames_by_seeking(video, *scanned, wanted, got)
    if wanted[-1] >= num_frames:
        raise VideoError(
            path, f"frame index {wanted[-1]} out of range: the video has {num_frames} frames"
        )
    return np.stack([got[i] for i in indices])


def _frames_in_order(video: _Video, wanted: list[int], got: dict[int, np.ndarray]) -> int:
    """Decode from the start, keeping the wanted indices; returns frames decoded (all, if short)."""
    wanted_set = set(wanted)
    count = 0
    for count, (_, frame) in enumerate(video.frames(), start=1):
        if count - 1 in wanted_set:
            got[count - 1] = video.rgb(frame)
        if count - 1 == wanted[-1]:
            break
    return count


def _frames_by_seeking(
    video: _Video,
    keys: list[int],
    keyframes: list[int],
    wanted: list[int],
    got: dict[int, np.ndarray],
) -> None:
    """Decode the wanted indices (sorted, in range) using the frame keys and keyframe indices."""
    index_of = {key: index for index, key in enumerate(keys)}
    wanted_set = set(wanted)
    decoded: Iterator[tuple[int, av.VideoFrame]] | None = None
    position = -1  # index of the last decoded frame
    for target in wanted:
        if target in got:
            continue
        next_keyframe = bisect.bisect_right(keyframes, position)
        if decoded is None or (
            next_keyframe < len(keyframes) and keyframes[next_keyframe] <= target
        ):
            if decoded is not None:
                decoded.close()
            decoded = video.frames(keys[target])
        for key, frame in decoded:
            position = index_of.get(key, -1)
            if position < 0:
                raise VideoError(
                    video.path, f"decoded frame timestamp {key} is not among the demuxed packets"
                )
            if position in wanted_set and position not in got:
                got[position] = video.rgb(frame)
            if position >= target:
                break
        else:
            raise VideoError(
                video.path, f"decoding ended before frame {target} (truncated or corrupt file)"
            )


def write_video(
    path: str | Path,
    frames: Any,
    fps: float,
    lossless: bool = False,
    codec: str | None = None,
    crf: int = 18,
    gop: int | None = None,
) -> Path:
    """Encode RGB frames to a video file, atomically.

    The container follows the suffix (``.mp4``, ``.mkv``, ``.avi``, ``.mov``, ...).

    * Default: h264 (libx264, quality ``crf``, macroblock-tree rate control off so that the same
      frames always give the same bytes) in ``yuv420p``, which every player reads; a frame
      with an odd width or height uses ``yuv444p`` instead, which keeps the exact size (no padding)
      but some browsers and hardware players refuse it.
    * ``lossless=True``: h264 RGB (libx264rgb, qp 0, ``rgb24``). Decoding returns the input frames
      bit-exactly (tests rely on it). Works in ``.mp4``, ``.mkv``, ``.avi`` and ``.mov``; only
      FFmpeg-based players read it.

    Args:
        path: Output file; parent folders are created.
        frames: ``uint8`` ``(T, H, W, 3)`` RGB, numpy array or torch tensor.
        fps: Frame rate; 29.97 and 23.976 are stored as the exact NTSC rates 30000/1001, 24000/1001.
        lossless: Exact RGB round trip (see above).
        codec: An FFmpeg encoder name overriding the default (e.g. ``"mpeg4"``, ``"ffv1"``).
        crf: libx264 quality (0 best, 51 worst); ignored when lossless.
        gop: Keyframe interval in frames; keyframes then fall exactly every ``gop`` frames
            (scene-cut keyframes disabled), which seek tests and benchmarks rely on.

    Returns:
        ``Path(path)``.
    """
    array = _as_frames(frames)
    _, height, width, _ = array.shape
    name = codec or ("libx264rgb" if lossless else "libx264")
    with atomic_path(path) as tmp:
        with av.open(str(tmp), "w") as container:
            try:
                stream = container.add_stream(name, rate=_exact_rate(fps))
            except (ValueError, av.error.FFmpegError) as error:
                raise ValueError(
                    f"cannot write {name} to a {Path(path).suffix} file: {error}"
                ) from error
            stream.width, stream.height = width, height
            stream.pix_fmt = _pixel_format(name, lossless, height, width)
            options = {}
            if name in ("libx264", "libx264rgb"):
                # Macroblock-tree rate control made this libx264 encode identical frames
                # differently from run to run (up to 11 grey levels after decoding); without it
                # the same frames give the same bytes, so written datasets are reproducible.
                options = {"qp": "0"} if lossless else {"crf": str(crf), "x264-params": "mbtree=0"}
            if gop is not None:
                stream.codec_context.gop_size = gop
                options.update(keyint_min=str(gop), sc_threshold="0")
            stream.options = options
            for index, image in enumerate(array):  # per-frame copy: views stay views until here
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts = index
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
    return Path(path)


def _as_frames(frames: Any) -> np.ndarray:
    if hasattr(frames, "detach"):  # torch tensor, without importing torch
        frames = frames.detach().cpu().numpy()
    array = np.asarray(frames)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3 or not len(array):
        raise ValueError(
            f"frames must be uint8 (T, H, W, 3) with T >= 1, got {array.dtype} {array.shape}"
        )
    return array


def _exact_rate(fps: float) -> Fraction:
    ntsc = fps * 1.001  # NTSC rates are n * 1000 / 1001
    if abs(ntsc - round(ntsc)) < 1e-3 and abs(fps - round(fps)) > 1e-2:
        return Fraction(round(ntsc) * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def _pixel_format(codec: str, lossless: bool, height: int, width: int) -> str:
    supported = [f.name for f in (av.codec.Codec(codec, "w").video_formats or [])]
    if lossless:
        preferred = ["rgb24", "gbrp", "bgr0", "bgr24", "rgba", "bgra"]
    elif height % 2 or width % 2:  # 4:2:0 chroma needs even sizes
        preferred = ["yuv444p", "yuv420p"]
    else:
        preferred = ["yuv420p", "yuv444p"]
    for name in preferred:
        if not supported or name in supported:
            return name
    if lossless:
        raise ValueError(f"{codec} has no RGB pixel format, so it cannot be lossless for RGB")
    return supported[0]


def _open_container(path: str) -> av.container.InputContainer:
    file = Path(path)
    if not file.exists():
        raise VideoError(path, "file not found")
    if not file.is_file():
        raise VideoError(path, "not a file")
    if file.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    try:
        return av.open(path, metadata_errors="ignore")
    except PermissionError as error:
        raise VideoError(path, "permission denied") from error
    except (av.error.FFmpegError, OSError, ValueError) as error:
        kind = _container_signature(file)
        detail = getattr(error, "strerror", None) or str(error)
        if kind is None:
            reason = f"not a video file: no known container format recognised ({detail})"
        else:
            reason = f"truncated or corrupt {kind} file: its header cannot be read ({detail})"
        raise VideoError(path, reason) from error


def _container_signature(file: Path) -> str | None:
    with open(file, "rb") as handle:
        head = handle.read(16)
    for offset, magic, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return None


def _first_video_stream(path: str, container: av.container.InputContainer) -> av.VideoStream:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoError(path, f"no video stream (streams: {', '.join(kinds)})")
    stream = container.streams.video[0]
    if not stream.width or not stream.height or stream.codec_context is None:
        raise VideoError(path, "video stream header is undecodable (no frame size or codec)")
    return stream


def _stream_fps(path: str, stream: av.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    raise VideoError(path, "video stream has no frame rate")
