"""motionprobe: per class, does a video classifier need one frame, a bag of frames, or the sequence?

The front door re-exports the public API flat::

    import motionprobe as mp
    mp.synthesize("data/synth")
    result = mp.train(mp.TrainConfig(data="data/synth", out="runs/c3d"))
    mp.run_probe(result["checkpoint"], "data/synth", "runs/probe")
    mp.make_report("runs/probe")
"""

from motionprobe._version import __version__
from motionprobe.attribution import AttributionConfig, attribute, run_attribution
from motionprobe.data import (
    DatasetIndex,
    VideoDataset,
    check_dataset,
    collate,
    load_index,
    load_label_map,
)
from motionprobe.data.synthetic import class_specs, load_cues, synthesize
from motionprobe.evaluate import EvalConfig, evaluate, evaluate_checkpoints
from motionprobe.interventions import Intervention, register_intervention
from motionprobe.models import create_model, list_models, load_weights
from motionprobe.models.adapter import make_target
from motionprobe.models.checkpoint import load_checkpoint
from motionprobe.probes import INTERVENTIONS, freeze, reverse, run_probe, shuffle
from motionprobe.probes.bias import BiasConfig, run_bias
from motionprobe.probes.engine import ProbeConfig
from motionprobe.probes.generator import GeneratorConfig, train_generator
from motionprobe.report import write_report
from motionprobe.runs import RunFolder, read_run, register_run
from motionprobe.stats import (
    cue_agreement,
    cue_conflict,
    per_class,
    share_ci,
    where_predictions_go,
)
from motionprobe.studies import Study, make_report, register_study, run_study
from motionprobe.studies.probe_validity import validate
from motionprobe.train import TrainConfig, train
from motionprobe.transforms import Preset, preset, to_model_layout
from motionprobe.types import TIME_DIM, VideoError, VideoInfo
from motionprobe.verdict import Rule, judge, taxonomy
from motionprobe.video import probe, read_clip, read_frames, write_video

__all__ = [
    "__version__",
    "AttributionConfig",
    "BiasConfig",
    "EvalConfig",
    "GeneratorConfig",
    "ProbeConfig",
    "RunFolder",
    "attribute",
    "evaluate_checkpoints",
    "read_run",
    "register_run",
    "run_bias",
    "train_generator",
    "INTERVENTIONS",
    "TIME_DIM",
    "DatasetIndex",
    "Intervention",
    "Preset",
    "Rule",
    "Study",
    "TrainConfig",
    "VideoDataset",
    "VideoError",
    "VideoInfo",
    "check_dataset",
    "class_specs",
    "collate",
    "create_model",
    "cue_agreement",
    "cue_conflict",
    "evaluate",
    "freeze",
    "judge",
    "list_models",
    "load_checkpoint",
    "load_cues",
    "load_index",
    "load_weights",
    "make_target",
    "load_label_map",
    "make_report",
    "per_class",
    "preset",
    "probe",
    "read_clip",
    "read_frames",
    "register_intervention",
    "register_study",
    "run_attribution",
    "reverse",
    "run_probe",
    "run_study",
    "share_ci",
    "shuffle",
    "synthesize",
    "taxonomy",
    "to_model_layout",
    "train",
    "validate",
    "write_report",
    "where_predictions_go",
    "write_video",
]
