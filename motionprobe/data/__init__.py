"""Datasets on disk: their layouts (detected or forced), clip samplers, the Dataset, a scan."""

from motionprobe.data.check import check_dataset
from motionprobe.data.kinetics import (
    DatasetIndex,
    VideoDataset,
    collate,
    folder_index,
    kinetics_index,
    load_label_map,
)
from motionprobe.data.layouts import (
    LAYOUTS,
    data_root,
    data_spec,
    detect_layout,
    hmdb51_index,
    load_index,
    ucf101_index,
)
from motionprobe.data.sampling import random_clip_start, uniform_clip_starts

__all__ = [
    "LAYOUTS",
    "DatasetIndex",
    "VideoDataset",
    "check_dataset",
    "collate",
    "data_root",
    "data_spec",
    "detect_layout",
    "folder_index",
    "hmdb51_index",
    "kinetics_index",
    "load_index",
    "load_label_map",
    "random_clip_start",
    "ucf101_index",
    "uniform_clip_starts",
]
