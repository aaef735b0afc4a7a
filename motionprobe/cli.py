"""``motionprobe`` command: a thin argparse layer over the library.

Each sub-command calls one library function with the same parameters and ends with a one-line
summary naming what it wrote.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from motionprobe._version import __version__
from motionprobe.attribution import METHODS as ATTRIBUTION_METHODS
from motionprobe.attribution import AttributionConfig, run_attribution
from motionprobe.data.check import check_dataset
from motionprobe.data.families import FAMILIES
from motionprobe.data.layouts import LAYOUTS, data_spec
from motionprobe.data.synthetic import synthesize
from motionprobe.device import leave_distributed, reuse_freed_memory
from motionprobe.evaluate import EvalConfig, evaluate_checkpoints
from motionprobe.flow import METHODS as FLOW_METHODS
from motionprobe.flow import extract_flow
from motionprobe.models import create_model, list_models
from motionprobe.models.sources import is_spec
from motionprobe.probes import run_probe
from motionprobe.probes.engine import DEFAULT_SUITE, ProbeConfig
from motionprobe.probes.generator import GeneratorConfig, train_generator
from motionprobe.runs import RunConfig, read_run
from motionprobe.studies import STUDIES, make_report, run_study
from motionprobe.studies.base import DefaultsHelpFormatter
from motionprobe.studies.probe_validity import validate
from motionprobe.train import TrainConfig, train
from motionprobe.types import RunError, VideoError
from motionprobe.video import TRUNCATED_POLICIES


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def _specs(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def default(source: Callable | type[RunConfig], name: str):
    """The library's default of a parameter, so a command's default is the library's own.

    ``source`` is a run's config class (its field's default) or a function (its parameter's).
    Sequences become the comma-separated text the command line takes.
    """
    if isinstance(source, type) and issubclass(source, RunConfig):
        value = source.default(name)
    else:
        value = inspect.signature(source).parameters[name].default
    return ",".join(map(str, value)) if isinstance(value, tuple | list) else value


def cmd_synth(args: argparse.Namespace) -> None:
    root = synthesize(
        args.out,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        test_per_class=args.test_per_class,
        frames=args.frames,
        size=args.size,
        fps=args.fps,
        seed=args.seed,
        classes=_specs(args.classes) if args.classes else None,
        family=args.family,
    )
    print(f"synth: wrote the {args.family} controls to {Path(root).resolve()}")


def cmd_validate(args: argparse.Namespace) -> None:
    result = validate(
        args.model,
        args.out,
        families=_specs(args.families),
        seeds=_ints(args.seeds),
        epochs=args.epochs,
        size=args.size,
        smoke=args.smoke,
        device=args.device,
        train_per_class=args.train_per_class,
        lr=args.lr,
    )
    shares = ", ".join(f"{k} {100 * v:.0f} %" for k, v in result["verdict_agreement"].items())
    minutes = result["seconds"] / 60
    print(
        f"validate {args.model}: verdicts right on {shares} ({minutes:.1f} min) "
        f"-> {result['report']}"
    )


def cmd_check(args: argparse.Namespace) -> None:
    check_dataset(
        args.root,
        out=args.out,
        frames=args.frames,
        label_map=args.label_map,
        truncated=args.truncated,
    )


def cmd_models(args: argparse.Namespace) -> None:
    header = f"{'model':20s} {'inputs':10s} {'clip (T x H x W)':17s}"
    print(f"{header} params ({args.num_classes} classes)")
    for name in list_models():
        model = create_model(name, args.num_classes)
        size = f"{model.frames} x {model.preset.crop} x {model.preset.crop}"
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{name:20s} {'+'.join(model.inputs):10s} {size:17s} {params:7.2f} M")


def cmd_train(args: argparse.Namespace) -> None:
    fields = TrainConfig.__dataclass_fields__
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if args.recipe:
        config = TrainConfig.from_recipe(args.recipe, **given)
    else:
        config = TrainConfig(**given)
    result = train(config)
    test = f", test acc {result['test_acc']:.3f}" if "test_acc" in result else ""
    if result.get("selected_on") == "test":  # no val split: the best epoch was chosen on test
        test += " (best epoch chosen on test: the layout has no val split)"
    print(
        f"train: best val acc {result['best_val_acc']:.3f}{test}, {result['bad_items']} bad items "
        f"-> {Path(result['checkpoint']).resolve()}"
    )


def cmd_flow(args: argparse.Namespace) -> None:
    result = extract_flow(
        args.root,
        args.out,
        method=args.method,
        workers=args.workers,
        fps=args.fps,
        short_side=args.short_side,
        num_shards=args.num_shards,
        shard_index=args.shard_index,
        verify=args.verify,
        device=args.device,
    )
    fixed = (
        f", {len(result['recomputed'])} damaged entries recomputed" if result["recomputed"] else ""
    )
    print(
        f"flow: shard {result['shard']}: {result['computed']} videos computed, "
        f"{result['skipped']} already done{fixed}, {len(result['bad'])} bad "
        f"({result['frames']} frames in {result['seconds']:.1f} s) -> {result['out']}"
    )
    for path, reason in result["bad"]:
        print(f"  bad: {path}: {reason}", file=sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> None:
    first = args.checkpoint[0]
    beside = Path(first).resolve().parent.parent if not is_spec(first) else Path("outputs")
    out = args.out or str(beside / f"eval_{args.split}")
    r = evaluate_checkpoints(
        args.checkpoint,
        args.data,
        out,
        split=args.split,
        num_clips=args.clips,
        num_crops=args.crops,
        batch_size=args.batch_size,
        device=args.device,
        workers=args.workers,
        label_map=args.label_map,
        flow_cache=args.flow_cache,
        fusion=args.fusion,
        truncated=args.truncated,
        **_source_options(args),
    )
    print(
        f"evaluate: {args.split}: video top-1 {r.video_top1:.3f}, top-5 {r.video_top5:.3f} "
        f"on {r.videos} videos ({r.views_per_video}); clip top-1 {r.clip_top1:.3f}; "
        f"{r.bad_items} bad items -> {out}"
    )


def cmd_probe(args: argparse.Namespace) -> None:
    result = run_probe(
        args.checkpoint,
        args.data,
        args.out,
        split=args.split,
        interventions=_specs(args.interventions) if args.interventions else None,
        seeds=_ints(args.seeds),
        num_clips=args.num_clips,
        batch_size=args.batch_size,
        device=args.device,
        workers=args.workers,
        label_map=args.label_map,
        generator=args.generator,
        stream=args.stream,
        flow_method=args.flow_method,
        amp=args.amp,
        forward_batch=args.forward_batch,
        overwrite=args.overwrite,
        truncated=args.truncated,
        **_source_options(args),
    )
    if result.rank:  # a torchrun worker other than rank 0: rank 0 prints the summary
        return
    accs = ", ".join(f"{k} {v:.3f}" for k, v in result.accuracy.items())
    print(
        f"probe: {result.clips} clips ({accs}), {result.bad_items} bad items"
        f"{_classes_note(result.out)} -> {Path(result.out).resolve()}"
    )


def _classes_note(out: str) -> str:
    """Where a run's class names came from, when not from the model itself."""
    config = read_run(out).config
    notes = []
    if (config.get("classes_from") or "").startswith("dataset"):
        notes.append("classes named from the dataset (the weights name none)")
    if config.get("classes_dropped"):
        notes.append(f"{len(config['classes_dropped'])} dataset classes not in the model skipped")
    return "".join(f", {n}" for n in notes)


def cmd_generator(args: argparse.Namespace) -> None:
    result = train_generator(
        args.checkpoint,
        args.data,
        args.out,
        ks=_ints(args.ks),
        epochs=args.epochs,
        batch_size=args.batch_size,
        samples=args.samples,
        lr=args.lr,
        width=args.width,
        device=args.device,
        seed=args.seed,
        truncated=args.truncated,
    )
    print(f"generator: -> {Path(result.generator).resolve()}")


def cmd_attribute(args: argparse.Namespace) -> None:
    options = {"steps": args.steps, "remove": args.remove}
    if args.layer:
        options["layer"] = args.layer
    if args.smooth:
        options["smooth"] = args.smooth
    if args.memory_mb:
        options["memory_mb"] = args.memory_mb
    run_attribution(
        args.checkpoint,
        args.data,
        args.out,
        split=args.split,
        method=args.method,
        clips_per_class=args.clips_per_class,
        target=args.target,
        device=args.device,
        batch_size=args.batch_size,
        label_map=args.label_map,
        flow_cache=args.flow_cache,
        video_format=None if args.video == "none" else args.video,
        save_maps=args.save_maps,
        overwrite=args.overwrite,
        truncated=args.truncated,
        **_source_options(args),
        **options,
    )


def cmd_report(args: argparse.Namespace) -> None:
    path = make_report(args.run, data=args.data, title=args.title)
    print(f"report: -> {Path(path).resolve()}")


#: The integer options of ``synth``, with their help.
_SYNTH_COUNTS = {
    "train_per_class": "training videos per class",
    "val_per_class": "validation videos per class",
    "test_per_class": "test videos per class",
    "frames": "frames per video",
    "size": "side of the square frames in pixels",
    "seed": "seed of every video",
}


def _add_synth(sub) -> None:
    p = sub.add_parser("synth", help="write the synthetic controls (Kinetics layout)")
    p.add_argument("out")
    for name, text in _SYNTH_COUNTS.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=default(synthesize, name),
                       help=text)  # fmt: skip
    p.add_argument("--fps", type=float, default=default(synthesize, "fps"),
                   help="frame rate written to the files")  # fmt: skip
    p.add_argument("--classes", default="", help="comma-separated subset of the classes")
    p.add_argument("--family", default=default(synthesize, "family"), choices=FAMILIES,
                   help="control family")  # fmt: skip
    p.set_defaults(func=cmd_synth)


def _add_validate(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="train a model on every control family and compare its verdicts with the truth",
    )
    p.add_argument("--model", required=True, help="a registered model (motionprobe models)")
    p.add_argument("--out", default="outputs/probe_validity",
                   help="output folder (data shared by models, one folder per model)")  # fmt: skip
    p.add_argument("--families", default=default(validate, "families"),
                   help="comma-separated families")  # fmt: skip
    p.add_argument("--seeds", default=default(validate, "seeds"),
                   help="training seeds (verdicts compared across them)")  # fmt: skip
    p.add_argument("--epochs", type=int, default=None, help="default: the model's CPU recipe")
    p.add_argument("--size", type=int, default=None, help="frame side (default by model)")
    p.add_argument("--train-per-class", type=int, default=None,
                   help="training clips per class (default 32; 128 on a GPU)")  # fmt: skip
    p.add_argument("--lr", type=float, default=None, help="default: the model's CPU recipe")
    p.add_argument("--smoke", action="store_true", help="tiny data, one epoch (seconds)")
    p.add_argument("--device", default=default(validate, "device"), help="torch device")
    p.set_defaults(func=cmd_validate)


def _add_check(sub) -> None:
    p = sub.add_parser("check", help="scan a dataset for unusable videos; writes check.csv")
    p.add_argument("root", help="dataset root, or LAYOUT[@FOLD]:PATH")
    _add_layout(p)
    p.add_argument("--out", default=default(check_dataset, "out"),
                   help="CSV to write; auto: ROOT/check.csv (./check.csv when ROOT is not "
                   "writable)")  # fmt: skip
    p.add_argument("--frames", type=int, default=default(check_dataset, "frames"),
                   help="clip length the videos must hold")  # fmt: skip
    p.add_argument("--label-map", default=None)
    _add_truncated(p, default(check_dataset, "truncated"))
    p.set_defaults(func=cmd_check)


def _add_layout(p: argparse.ArgumentParser) -> None:
    """``--layout`` and ``--fold``: force a dataset layout (and UCF101/HMDB51's split number)."""
    p.add_argument("--layout", choices=sorted(LAYOUTS), default=None,
                   help="dataset layout (default: detected from the root)")  # fmt: skip
    p.add_argument("--fold", type=int, default=None,
                   help="official split number of ucf101/hmdb51 (1-3; default 1)")  # fmt: skip


def _common(p: argparse.ArgumentParser, fn: Callable | type[RunConfig]) -> None:
    """Data, batch, device and worker options, with ``fn``'s defaults."""
    p.add_argument("--data", required=True,
                   help="dataset root, or LAYOUT[@FOLD]:PATH (see --layout)")  # fmt: skip
    _add_layout(p)
    p.add_argument(
        "--batch-size", type=int, default=default(fn, "batch_size"), help="clips per batch"
    )
    p.add_argument("--device", default=default(fn, "device"), help="cpu, cuda or cuda:N")
    if isinstance(fn, type) and issubclass(fn, RunConfig):
        params = {f.name for f in dataclasses.fields(fn)}
    else:
        params = set(inspect.signature(fn).parameters)
    if "workers" in params:
        p.add_argument("--workers", type=int, default=default(fn, "workers"),
                       help="data loader processes")  # fmt: skip
    if "label_map" in params:
        p.add_argument("--label-map", default=None, help="class-order file")
    if "truncated" in params:
        _add_truncated(p, default(fn, "truncated"))


def _add_truncated(p: argparse.ArgumentParser, value: str | None) -> None:
    """``--truncated``: the policy for truncated videos (``value``: its default)."""
    p.add_argument("--truncated", choices=TRUNCATED_POLICIES, default=value,
                   help="a truncated video (a download cut short): skip it as a bad item, or "
                   "use the frames before its damage (listed in bad_items.csv as used)",
                   )  # fmt: skip


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model; keeps checkpoints/last.pt and best.pt, resumes exactly",
        description="Options left out keep the recipe's value (or the TrainConfig default).",
    )
    p.add_argument("--recipe", default=None, help="named settings (motionprobe.recipes)")
    p.add_argument("--model", default=None, help="a registered model (default c3d_tiny)")
    p.add_argument("--out", required=True)
    p.add_argument("--data", required=True, help="dataset root, or LAYOUT[@FOLD]:PATH")
    _add_layout(p)
    p.add_argument("--batch-size", type=int, default=None, help="per process")
    p.add_argument("--device", default=None)
    p.add_argument("--label-map", default=None, help="class-order file")
    for name in ("workers", "epochs", "frames", "seed"):
        p.add_argument(f"--{name}", type=int, default=None)
    p.add_argument("--size", type=int, default=None, help="crop side (default: the model's)")
    p.add_argument("--resize", type=int, default=None, help="short side before cropping")
    p.add_argument("--fps", type=float, default=None, help="resample clips (default: native)")
    for name in ("lr", "weight-decay", "momentum"):
        p.add_argument(f"--{name}", type=float, default=None)
    p.add_argument("--optimizer", choices=["adamw", "sgd"], default=None)
    p.add_argument("--schedule", choices=["onecycle", "cosine", "plateau", "constant"])
    p.add_argument("--amp", choices=["off", "bf16", "fp16"], default=None)
    p.add_argument("--accumulate", type=int, default=None, help="micro-batches per step")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between last.pt")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--short", choices=["loop", "pad", "error"], default=None)
    _add_truncated(p, None)
    p.add_argument("--weights", default=None, help="initial weights: a checkpoint or a published "
                   "layout (the classifier is replaced for another class count)")  # fmt: skip
    p.add_argument("--flow-cache", default=None, help="flow cache of --data (motionprobe flow)")
    p.add_argument("--flow-method", choices=FLOW_METHODS, default=None,
                   help="on-the-fly flow when there is no cache")  # fmt: skip
    p.add_argument("--flow-bound", type=float, default=None,
                   help="bound of frame folders' flow JPEGs (denseflow --bound)")  # fmt: skip
    p.set_defaults(func=cmd_train)


def _add_flow(sub) -> None:
    p = sub.add_parser("flow", help="extract optical flow of a dataset into a quantised cache")
    p.add_argument("root", help="dataset folder (every video below it)")
    p.add_argument("--out", required=True, help="cache folder")
    p.add_argument("--method", choices=FLOW_METHODS,
                   default=default(extract_flow, "method"), help="flow estimator")  # fmt: skip
    p.add_argument("--workers", type=int, default=default(extract_flow, "workers"),
                   help="processes on this machine")  # fmt: skip
    p.add_argument("--fps", type=float, default=None, help="resample first (default: native)")
    p.add_argument("--short-side", type=int, default=None, help="resize first (default: as is)")
    p.add_argument("--num-shards", type=int, default=None, help="machines sharing the dataset")
    p.add_argument("--shard-index", type=int, default=None, help="this machine's shard")
    p.add_argument("--verify", action="store_true", help="checksum every existing entry")
    p.add_argument("--device", default=default(extract_flow, "device"),
                   help="where tvl1-torch runs (default the CPU; cuda, cuda:1)")  # fmt: skip
    p.set_defaults(func=cmd_flow)


def _add_evaluate(sub) -> None:
    fn = EvalConfig
    p = sub.add_parser(
        "evaluate", help="clip- and video-level accuracy of a checkpoint, or of two fused"
    )
    _add_model_source(p, fn, many=True)
    p.add_argument("--split", default=default(fn, "split"), help="split to evaluate")
    p.add_argument("--clips", "--num-clips", type=int, default=default(fn, "num_clips"),
                   help="clips per video")  # fmt: skip
    p.add_argument("--crops", type=int, default=default(fn, "num_crops"),
                   help="crops per clip along the long side")  # fmt: skip
    p.add_argument("--fusion", choices=["logits", "softmax"], default=default(fn, "fusion"),
                   help="what is averaged over two checkpoints")  # fmt: skip
    p.add_argument("--out", default=None, help="default: eval_SPLIT beside the checkpoints")
    p.add_argument("--flow-cache", default=None, help="flow cache (default: the training one)")
    _common(p, fn)
    p.set_defaults(func=cmd_evaluate)


def _add_model_source(p: argparse.ArgumentParser, fn, many: bool = False) -> None:
    """The model options: a checkpoint or a model spec, its weights, clip length, classes."""
    text = "a checkpoint, or a model spec: torchvision:NAME, hf:PATH_OR_ID, package.module:function"
    p.add_argument("--checkpoint", "--model", dest="checkpoint", required=True,
                   action="append" if many else "store",
                   help=text + (" (give twice to fuse two)" if many else ""))  # fmt: skip
    p.add_argument("--weights", default=None, help="a spec's weights: a torchvision enum member "
                   "(KINETICS400_V1) or a state-dict file (default: random)")  # fmt: skip
    p.add_argument("--frames", type=int, default=None,
                   help="clip length (default: the model's own)")  # fmt: skip
    p.add_argument("--partial-classes", action="store_true", help="probe a dataset with classes "
                   "the model lacks (skipped and recorded)")  # fmt: skip


def _source_options(args: argparse.Namespace) -> dict:
    """The model-source options of a parsed command line, as the run functions take them."""
    return dict(weights=args.weights, frames=args.frames, partial_classes=args.partial_classes)


def _add_probe(sub) -> None:
    p = sub.add_parser(
        "probe",
        help="evaluate under temporal interventions; per-class drops, CIs, taxonomy",
        description="Without --interventions the full suite the taxonomy needs runs: "
        + ", ".join(DEFAULT_SUITE)
        + " (and generate:k=1:select=max with --generator).",
    )
    _add_model_source(p, ProbeConfig)
    p.add_argument("--out", required=True)
    p.add_argument("--split", default=default(ProbeConfig, "split"), help="split to probe")
    p.add_argument("--interventions", default=None, help="comma-separated specs, e.g. "
                   "freeze:index=first,shuffle:window=4,subsample:k=2,freeze:select=max,"
                   "conflict:mode=dense (default: the full suite)")  # fmt: skip
    p.add_argument("--seeds", default=default(ProbeConfig, "seeds"),
                   help="seeds of the random interventions")  # fmt: skip
    p.add_argument("--num-clips", type=int, default=default(ProbeConfig, "num_clips"),
                   help="evenly spaced clips per video")  # fmt: skip
    p.add_argument("--generator", default=None, help="a trained temporal generator (generator.pt)")
    p.add_argument("--stream", choices=["both", "rgb", "flow"],
                   default=default(ProbeConfig, "stream"),
                   help="both streams, or one stream of a two-stream model alone")  # fmt: skip
    p.add_argument("--flow-method", choices=FLOW_METHODS, default=None)
    p.add_argument("--amp", choices=["auto", "bf16", "off"], default=default(ProbeConfig, "amp"),
                   help="bf16 autocast: auto (on CUDA), bf16 or off")  # fmt: skip
    p.add_argument("--overwrite", action="store_true",
                   help="discard a run in --out that was made with other settings")  # fmt: skip
    p.add_argument("--forward-batch", type=int, default=default(ProbeConfig, "forward_batch"),
                   help="clips per forward pass")  # fmt: skip
    _common(p, ProbeConfig)
    p.set_defaults(func=cmd_probe)


#: The integer options of ``generator``, with their help.
_GENERATOR_COUNTS = {
    "epochs": "passes over the split",
    "samples": "noise samples per clip (K of the best-of-K loss)",
    "width": "generator width",
    "seed": "seed of the weights, the data order and the noise",
}


def _add_generator(sub) -> None:
    fn = GeneratorConfig
    p = sub.add_parser(
        "generator",
        help="train the class-agnostic temporal generator (Huang et al.) without labels",
    )
    p.add_argument("--checkpoint", "--model", dest="checkpoint", required=True,
                   help="the frozen classifier: a checkpoint or a model spec "
                   "(torchvision:NAME[@WEIGHTS], hf:PATH_OR_ID, module:function)")  # fmt: skip
    p.add_argument("--out", required=True)
    p.add_argument("--ks", default=default(fn, "ks"), help="numbers of input frames")
    for name, text in _GENERATOR_COUNTS.items():
        p.add_argument(f"--{name}", type=int, default=default(fn, name), help=text)
    p.add_argument("--lr", type=float, default=default(fn, "lr"), help="Adam learning rate")
    _common(p, fn)
    p.set_defaults(func=cmd_generator)


def _add_attribute(sub) -> None:
    fn = AttributionConfig
    p = sub.add_parser(
        "attribute",
        help="attribute a checkpoint's decisions over time (Captum); profiles, checks, figures",
    )
    _add_model_source(p, fn)
    p.add_argument("--out", required=True)
    p.add_argument("--split", default=default(fn, "split"), help="split to attribute")
    p.add_argument("--method", choices=ATTRIBUTION_METHODS, default=default(fn, "method"),
                   help="attribution method")  # fmt: skip
    p.add_argument("--clips-per-class", type=int, default=default(fn, "clips_per_class"),
                   help="videos attributed per class")  # fmt: skip
    p.add_argument("--target", choices=["label", "pred"], default=default(fn, "target"),
                   help="explain the true class (label) or the predicted one (pred)")  # fmt: skip
    p.add_argument("--steps", type=int, default=32, help="Integrated Gradients steps")
    p.add_argument("--remove", choices=["mean", "zero", "neighbour"], default="mean",
                   help="what replaces a removed frame (perturbation methods)")  # fmt: skip
    p.add_argument("--layer", default=None, help="Grad-CAM layer (default: the last 3-D block)")
    p.add_argument("--smooth", default=None, help="NoiseTunnel: smoothgrad, smoothgrad_sq, vargrad")
    p.add_argument("--memory-mb", type=float, default=None, help="memory budget of one pass")
    p.add_argument("--video", choices=["gif", "mp4", "none"], default=default(fn, "video_format"),
                   help="animation of each example class (none: no animations)")  # fmt: skip
    p.add_argument("--save-maps", action="store_true", help="also write the full maps (float16)")
    p.add_argument("--flow-cache", default=None)
    p.add_argument("--overwrite", action="store_true",
                   help="discard a run in --out that was made with other settings")  # fmt: skip
    _common(p, fn)
    p.set_defaults(func=cmd_attribute)


def _add_report(sub) -> None:
    p = sub.add_parser(
        "report", help="re-render the figures and report.md of a study or probe folder"
    )
    p.add_argument("run")
    p.add_argument("--data", default=None, help="dataset root (its classes.json adds the cues)")
    p.add_argument("--title", default=None, help="report title (default: the study's)")
    p.set_defaults(func=cmd_report)


def cmd_study(args: argparse.Namespace) -> None:
    run_study(args.name, args.args, prog=f"motionprobe study {args.name}")


def _add_study(sub) -> None:
    p = sub.add_parser(
        "study",
        help="run a registered study (its options: motionprobe study NAME --help)",
        description="Studies: " + "; ".join(f"{n}: {s.description}" for n, s in STUDIES.items()),
    )
    p.add_argument("name", choices=sorted(STUDIES))
    p.add_argument("args", nargs=argparse.REMAINDER, help="the study's own options")
    p.set_defaults(func=cmd_study)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(
        prog="motionprobe",
        description=__doc__.splitlines()[0],
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"motionprobe {__version__}")
    _add_global(parser, default=False)
    sub = parser.add_subparsers(dest="command", required=True)
    adders = [_add_synth, _add_validate, _add_check, _add_train, _add_flow, _add_models]
    adders += [_add_evaluate, _add_probe, _add_generator, _add_attribute, _add_report, _add_study]
    for add in adders:
        add(sub)
    for command in sub.choices.values():
        command.formatter_class = DefaultsHelpFormatter
        if command.prog.split()[-1] != "study":  # a study's own parser takes its arguments
            _add_global(command, default=argparse.SUPPRESS)
    return parser


def _add_global(p: argparse.ArgumentParser, default: object) -> None:
    """``--quiet`` and ``--debug``, before or after the command (a command's copy must not
    reset what was given before it, hence ``SUPPRESS``)."""
    p.add_argument("--quiet", action="store_true", default=default,
                   help="no progress bars, only the summary line")  # fmt: skip
    p.add_argument("--debug", action="store_true", default=default,
                   help="show the traceback of an error instead of one line")  # fmt: skip


def _add_models(sub) -> None:
    p = sub.add_parser("models", help="list the models: inputs, clip size, parameters")
    p.add_argument("--num-classes", type=int, default=400,
                   help="classes of the classifier head (they set its size)")  # fmt: skip
    p.set_defaults(func=cmd_models)


#: Exit status of a command stopped by a mistake in what it was asked (argparse's usage errors
#: exit with 2, a bug's traceback with 1).
EXIT_ERROR = 3
#: What a user's mistake raises: bad files, options, folders, devices (``--debug`` shows the
#: traceback instead of the one line).
USER_ERRORS = (ValueError, OSError, KeyError, VideoError, FloatingPointError, RuntimeError)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``motionprobe`` console script."""
    args = build_parser().parse_args(argv)
    reuse_freed_memory()
    if getattr(args, "quiet", False):
        os.environ["TQDM_DISABLE"] = "1"
    try:
        _check_device(getattr(args, "device", None))
        if getattr(args, "layout", None) or getattr(args, "fold", None) is not None:
            where = "data" if hasattr(args, "data") else "root"
            setattr(args, where, data_spec(getattr(args, where), args.layout, args.fold))
        args.func(args)
        leave_distributed()
    except USER_ERRORS as err:
        if getattr(args, "debug", False):
            raise
        print(f"motionprobe {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def _one_line(err: BaseException) -> str:
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(str(text).split()) or type(err).__name__


def _check_device(device: str | None) -> None:
    """Refuse a device this machine does not have before any work starts."""
    if device and device.startswith("cuda") and not torch.cuda.is_available():
        raise RunError(f"--device {device}: this machine has no CUDA device; use --device cpu")


if __name__ == "__main__":
    sys.exit(main())
