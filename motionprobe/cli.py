"""``motionprobe`` command: a thin argparse layer over the library.

Each sub-command calls one library function with the same parameters and ends with a one-line
summary naming what it wrote.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from motionprobe.data.families import FAMILIES


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def _specs(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def cmd_synth(args: argparse.Namespace) -> None:
    from motionprobe.data.synthetic import synthesize

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
    from motionprobe.validate import validate

    result = validate(
        args.model,
        args.out,
        families=_specs(args.families),
        seeds=_ints(args.seeds),
        epochs=args.epochs,
        size=args.size,
        smoke=args.smoke,
        device=args.device,
    )
    shares = ", ".join(f"{k} {100 * v:.0f} %" for k, v in result["verdict_agreement"].items())
    minutes = result["seconds"] / 60
    print(
        f"validate {args.model}: verdicts right on {shares} ({minutes:.1f} min) "
        f"-> {result['report']}"
    )


def cmd_check(args: argparse.Namespace) -> None:
    from motionprobe.data.check import check_dataset

    check_dataset(args.root, out=args.out, frames=args.frames, label_map=args.label_map)


def cmd_models(args: argparse.Namespace) -> None:
    from motionprobe.models import create_model, list_models

    header = f"{'model':20s} {'inputs':10s} {'clip (T x H x W)':17s}"
    print(f"{header} params ({args.num_classes} classes)")
    for name in list_models():
        model = create_model(name, args.num_classes)
        size = f"{model.frames} x {model.preset.crop} x {model.preset.crop}"
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"{name:20s} {'+'.join(model.inputs):10s} {size:17s} {params:7.2f} M")


def cmd_train(args: argparse.Namespace) -> None:
    from motionprobe.train import TrainConfig, train

    fields = TrainConfig.__dataclass_fields__
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if args.recipe:
        config = TrainConfig.from_recipe(args.recipe, **given)
    else:
        config = TrainConfig(**given)
    result = train(config)
    test = f", test acc {result['test_acc']:.3f}" if "test_acc" in result else ""
    print(
        f"train: best val acc {result['best_val_acc']:.3f}{test}, {result['bad_items']} bad items "
        f"-> {Path(result['checkpoint']).resolve()}"
    )


def cmd_flow(args: argparse.Namespace) -> None:
    from motionprobe.flow import extract_flow

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
    from motionprobe.train import evaluate_checkpoints

    out = args.out or str(Path(args.checkpoint[0]).resolve().parent.parent / f"eval_{args.split}")
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
    )
    print(
        f"evaluate: {args.split}: video top-1 {r['video_top1']:.3f}, top-5 {r['video_top5']:.3f} "
        f"on {r['videos']} videos ({r['views_per_video']}); clip top-1 {r['clip_top1']:.3f}; "
        f"{r['bad_items']} bad items -> {out}"
    )


def cmd_probe(args: argparse.Namespace) -> None:
    from motionprobe.probes import run_probe

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
    )
    if "rank" in result:  # a torchrun worker other than rank 0: rank 0 prints the summary
        return
    accs = ", ".join(f"{k} {v:.3f}" for k, v in result["accuracy"].items())
    print(
        f"probe: {result['clips']} clips ({accs}), {result['bad_items']} bad items "
        f"-> {Path(result['out']).resolve()}"
    )


def cmd_generator(args: argparse.Namespace) -> None:
    from motionprobe.probes.generator import train_generator

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
    )
    print(f"generator: -> {Path(result['generator']).resolve()}")


def cmd_attribute(args: argparse.Namespace) -> None:
    from motionprobe.attribution import run_attribution

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
        **options,
    )


def cmd_report(args: argparse.Namespace) -> None:
    from motionprobe.report import make_report

    path = make_report(args.run, data=args.data, title=args.title)
    print(f"report: -> {Path(path).resolve()}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="motionprobe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write the synthetic controls (Kinetics layout)")
    p.add_argument("out")
    p.add_argument("--train-per-class", type=int, default=40)
    p.add_argument("--val-per-class", type=int, default=8)
    p.add_argument("--test-per-class", type=int, default=20)
    p.add_argument("--frames", type=int, default=32)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classes", default="", help="comma-separated subset of the classes")
    p.add_argument("--family", default="squares", choices=FAMILIES, help="control family")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser(
        "validate",
        help="train a model on every control family and compare its verdicts with the truth",
    )
    p.add_argument("--model", required=True, help="a registered model (motionprobe models)")
    p.add_argument("--out", default="outputs/probe_validity")
    p.add_argument("--families", default=",".join(FAMILIES), help="comma-separated families")
    p.add_argument("--seeds", default="0,1", help="training seeds (verdicts compared across them)")
    p.add_argument("--epochs", type=int, default=None, help="default: the model's CPU recipe")
    p.add_argument("--size", type=int, default=None, help="frame side (default by model)")
    p.add_argument("--smoke", action="store_true", help="tiny data, one epoch (seconds)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("check", help="scan a dataset for unusable videos; writes check.csv")
    p.add_argument("root")
    p.add_argument("--out", default="check.csv")
    p.add_argument("--frames", type=int, default=16, help="clip length the videos must hold")
    p.add_argument("--label-map", default=None)
    p.set_defaults(func=cmd_check)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data", required=True, help="dataset root")
        p.add_argument("--batch-size", type=int, default=16)
        p.add_argument("--device", default="cpu")
        p.add_argument("--workers", type=int, default=1)
        p.add_argument("--label-map", default=None, help="class-order file")

    p = sub.add_parser(
        "train",
        help="train a model; keeps checkpoints/last.pt and best.pt, resumes exactly",
        description="Options left out keep the recipe's value (or the TrainConfig default).",
    )
    p.add_argument("--recipe", default=None, help="named settings (motionprobe.recipes)")
    p.add_argument("--model", default=None, help="a registered model (default c3d_tiny)")
    p.add_argument("--out", required=True)
    p.add_argument("--data", required=True, help="dataset root")
    p.add_argument("--batch-size", type=int, default=None, help="per process")
    p.add_argument("--device", default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--label-map", default=None, help="class-order file")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--frames", type=int, default=None)
    p.add_argument("--size", type=int, default=None, help="crop side (default: the model's)")
    p.add_argument("--resize", type=int, default=None, help="short side before cropping")
    p.add_argument("--fps", type=float, default=None, help="resample clips (default: native)")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--momentum", type=float, default=None)
    p.add_argument("--optimizer", choices=["adamw", "sgd"], default=None)
    p.add_argument("--schedule", choices=["onecycle", "cosine", "plateau", "constant"])
    p.add_argument("--amp", choices=["off", "bf16", "fp16"], default=None)
    p.add_argument("--accumulate", type=int, default=None, help="micro-batches per step")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between last.pt")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--short", choices=["loop", "pad", "error"], default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--weights",
        default=None,
        help="initial weights: a checkpoint or a published layout (the classifier is replaced "
        "for another class count)",
    )
    p.add_argument("--flow-cache", default=None, help="flow cache of --data (motionprobe flow)")
    p.add_argument(
        "--flow-method",
        choices=["tvl1", "farneback"],
        default=None,
        help="on-the-fly flow when there is no cache",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("flow", help="extract optical flow of a dataset into a quantised cache")
    p.add_argument("root", help="dataset folder (every video below it)")
    p.add_argument("--out", required=True, help="cache folder")
    p.add_argument("--method", choices=["tvl1", "farneback"], default="tvl1")
    p.add_argument("--workers", type=int, default=1, help="processes on this machine")
    p.add_argument("--fps", type=float, default=None, help="resample first (default: native)")
    p.add_argument("--short-side", type=int, default=None, help="resize first (default: as is)")
    p.add_argument("--num-shards", type=int, default=None, help="machines sharing the dataset")
    p.add_argument("--shard-index", type=int, default=None, help="this machine's shard")
    p.add_argument("--verify", action="store_true", help="checksum every existing entry")
    p.set_defaults(func=cmd_flow)

    p = sub.add_parser("models", help="list the models: inputs, clip size, parameters")
    p.add_argument("--num-classes", type=int, default=400)
    p.set_defaults(func=cmd_models)

    p = sub.add_parser(
        "evaluate", help="clip- and video-level accuracy of a checkpoint, or of two fused"
    )
    p.add_argument(
        "--checkpoint", required=True, action="append", help="give twice to fuse two streams"
    )
    p.add_argument("--split", default="test")
    p.add_argument("--clips", "--num-clips", type=int, default=10, help="clips per video")
    p.add_argument("--crops", type=int, default=3, help="crops per clip along the long side")
    p.add_argument("--fusion", choices=["logits", "softmax"], default="logits")
    p.add_argument("--out", default=None, help="default: eval_SPLIT beside the checkpoints")
    p.add_argument("--flow-cache", default=None, help="flow cache (default: the training one)")
    common(p)
    p.set_defaults(func=cmd_evaluate)

    from motionprobe.probes.engine import DEFAULT_SUITE

    p = sub.add_parser(
        "probe",
        help="evaluate under temporal interventions; per-class drops, CIs, taxonomy",
        description="Without --interventions the full suite the taxonomy needs runs: "
        + ", ".join(DEFAULT_SUITE)
        + " (and generate:k=1:select=max with --generator).",
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--split", default="test")
    p.add_argument(
        "--interventions",
        default=None,
        help="comma-separated specs, e.g. freeze:index=first,shuffle:window=4,subsample:k=2,"
        "freeze:select=max,conflict:mode=dense (default: the full suite)",
    )
    p.add_argument("--seeds", default="0,1,2", help="seeds of the random interventions")
    p.add_argument("--num-clips", type=int, default=1)
    p.add_argument("--generator", default=None, help="a trained temporal generator (generator.pt)")
    p.add_argument("--stream", choices=["both", "rgb", "flow"], default="both")
    p.add_argument("--flow-method", choices=["tvl1", "farneback"], default=None)
    p.add_argument("--amp", choices=["auto", "bf16", "off"], default="auto")
    p.add_argument("--forward-batch", type=int, default=64, help="clips per forward pass")
    common(p)
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser(
        "generator",
        help="train the class-agnostic temporal generator (Huang et al.) without labels",
    )
    p.add_argument("--checkpoint", required=True, help="the frozen classifier")
    p.add_argument("--out", required=True)
    p.add_argument("--ks", default="1,2,4,8", help="numbers of input frames")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--samples", type=int, default=3, help="noise samples per clip (best of K)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    common(p)
    p.set_defaults(func=cmd_generator)

    from motionprobe.attribution import METHODS as ATTRIBUTION_METHODS

    p = sub.add_parser(
        "attribute",
        help="attribute a checkpoint's decisions over time (Captum); profiles, checks, figures",
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--method", choices=ATTRIBUTION_METHODS, default="integrated_gradients")
    p.add_argument("--clips-per-class", type=int, default=4)
    p.add_argument("--target", choices=["label", "pred"], default="label")
    p.add_argument("--steps", type=int, default=32, help="Integrated Gradients steps")
    p.add_argument("--remove", choices=["mean", "zero", "neighbour"], default="mean")
    p.add_argument("--layer", default=None, help="Grad-CAM layer (default: the last 3-D block)")
    p.add_argument("--smooth", default=None, help="NoiseTunnel: smoothgrad, smoothgrad_sq, vargrad")
    p.add_argument("--memory-mb", type=float, default=None, help="memory budget of one pass")
    p.add_argument("--video", choices=["gif", "mp4", "none"], default="gif")
    p.add_argument("--save-maps", action="store_true", help="also write the full maps (float16)")
    p.add_argument("--flow-cache", default=None)
    common(p)
    p.set_defaults(func=cmd_attribute, batch_size=4)

    p = sub.add_parser(
        "report", help="re-render the figures and report.md of a study or probe folder"
    )
    p.add_argument("run")
    p.add_argument("--data", default=None, help="dataset root (its classes.json adds the cues)")
    p.add_argument("--title", default=None, help="report title (default: the study's)")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``motionprobe`` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError) as err:
        print(f"motionprobe {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
