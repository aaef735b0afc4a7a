"""Datasets on disk: Kinetics/UCF101/HMDB51 layouts, clip samplers, the torch Dataset, a scan."""

from motionprobe.data.check import check_dataset
from motionprobe.data.kinetics import (
    DatasetIndex,
    VideoDataset,
    collate,
    folder_index,
    hmdb51_index,
    kinetics_index,
    load_index,
    load_label_map,
    ucf101_index,
)
from motionprobe.data.sampling import random_clip_start, uniform_clip_starts

__all__ = [
    "DatasetIndex",
    "VideoDataset",
    "check_dataset",
    "collate",
    "folder_index",
    "hmdb51_index",
    "kinetics_index",
    "load_index",
    "load_label_map",
    "random_clip_start",
    "ucf101_index",
    "uniform_clip_starts",
]
