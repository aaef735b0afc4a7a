"""Write a run's report (Markdown) from its files: per_class.csv, taxonomy.csv, predictions.parquet.

The report reads only the run folder (see the "Results" contract in ``DESIGN.md``), so any run can
be re-reported without re-running a model. This module holds the generic probe report
(:func:`probe_report`, :func:`write_report`) and the Markdown helpers every study's report
shares; each study's own report lives in its module of :mod:`motionprobe.studies`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from motionprobe import plots
from motionprobe.data.families import AXES_BY_CUE
from motionprobe.data.synthetic import load_cues
from motionprobe.io import write_csv, write_text
from motionprobe.pairs import known_reverse_pairs, pairs_section, reverse_partner_rates
from motionprobe.runs import read_run
from motionprobe.stats import (
    CLEAN,
    accuracy_by_intervention,
    cue_conflict,
    frames_curve,
    share_ci,
    where_predictions_go,
)
from motionprobe.types import VERDICTS
from motionprobe.verdict import Rule, agreement

#: What a table cell shows for a missing value.
MISSING = "–"
#: Classes per page of the per-class figures.
PAGE_ROWS = 100


# --------------------------------------------------------------------------------------------
# formatting
# --------------------------------------------------------------------------------------------


def _cell(value: Any, digits: int = 3) -> str:
    """One Markdown table cell: floats rounded, NaN/None as a dash, pipes escaped."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return MISSING
        return f"{value:.{digits}f}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    try:
        if pd.isna(value):
            return MISSING
    except (TypeError, ValueError):
        pass
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A GitHub-flavoured Markdown table (no dependency on ``tabulate``).

    >>> print(markdown_table([["a", 0.5]], ["class", "acc"]))
    | class | acc |
    | --- | --- |
    | a | 0.500 |
    """
    lines = [
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def frame_table(df: pd.DataFrame) -> str:
    """A data frame as a Markdown table: its columns as headers, one row per row, no index."""
    return markdown_table(df.itertuples(index=False, name=None), list(df.columns))


def ci_text(value: float, low: float, high: float, digits: int = 2) -> str:
    """``0.50 [0.40, 0.60]``: a value with its confidence interval.

    Args:
        value: The estimate; a dash when missing.
        low: Lower bound; the bracket is left out when either bound is missing.
        high: Upper bound.
        digits: Decimals.
    """
    if value is None or pd.isna(value):
        return MISSING
    if pd.isna(low) or pd.isna(high):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def pct(x: float) -> str:
    """A share as ``48.0 %``; a dash when missing."""
    return MISSING if pd.isna(x) else f"{100 * x:.1f} %"


# --------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------


def read_config(run_dir: Path) -> dict:
    """The folder's ``config.json``, or an empty dict when it has none (see
    :func:`motionprobe.runs.read_run`)."""
    return read_run(run_dir).config if Path(run_dir).is_dir() else {}


def find_setting(config: Mapping[str, Any], *keys: str) -> Any:
    """First value of any of ``keys`` in ``config``, searching nested dicts breadth-first."""
    queue: list[Mapping[str, Any]] = [config]
    while queue:
        current = queue.pop(0)
        for key in keys:
            if key in current and current[key] not in (None, "", [], {}):
                return current[key]
        queue.extend(v for v in current.values() if isinstance(v, Mapping))
    return None


def describe(value: Any) -> str:
    """A config value as text: mappings as ``k=v`` and sequences joined by commas."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={describe(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(describe(v) for v in value)
    return str(value)


def figure_links(run_dir: Path, subdir: str = "figures") -> list[str]:
    """Markdown image links to every PNG of ``run_dir/subdir`` (with its SVG).

    Returns:
        A ``## Figures`` section's lines, or no line when there is no figure.
    """
    fig_dir = run_dir / subdir
    pngs = sorted(fig_dir.glob("*.png")) if fig_dir.is_dir() else []
    if not pngs:
        return []
    out = ["## Figures", ""]
    for png in pngs:
        svg = png.with_suffix(".svg")
        link = f" ([SVG]({svg.relative_to(run_dir).as_posix()}))" if svg.is_file() else ""
        out += [f"![{png.stem}]({png.relative_to(run_dir).as_posix()}){link}", ""]
    return out


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def _controlled_section(tax: pd.DataFrame) -> list[str]:
    """Naive frozen-frame drops and verdicts beside the artifact-controlled ones."""
    judged = tax[tax["verdict"] != "inconclusive"]
    naive_sf = (tax["verdict_naive"] == "single_frame").to_numpy()
    ctl_sf = (tax["verdict"] == "single_frame").to_numpy()
    s_n, lo_n, hi_n = share_ci(naive_sf)
    s_c, lo_c, hi_c = share_ci(ctl_sf)
    changed = tax[tax["verdict"] != tax["verdict_naive"]]
    mean_naive = float(tax["drop_freeze"].mean())
    mean_ctl = float(tax["drop_controlled"].mean())
    conditions = ", ".join(f"`{c}`" for c in dict.fromkeys(tax["controlled"].dropna()))
    lines = [
        "## Naive frozen frame versus artifact-controlled single frame",
        "",
        "The naive test replicates the middle frame (Huang et al. 2018's baseline); it overstates "
        "what motion adds, because a static clip is out of distribution and the middle frame may "
        "not be the informative one. The controlled estimate is, per class, the single-frame "
        f"condition that costs it least among those run ({conditions}).",
        "",
        f"Mean drop over classes: naive **{mean_naive:.3f}**, controlled **{mean_ctl:.3f}**. "
        f"Classes judged single_frame: naive {pct(s_n)} (95 % CI {pct(lo_n)} – {pct(hi_n)}), "
        f"controlled {pct(s_c)} (95 % CI {pct(lo_c)} – {pct(hi_c)}) of {len(tax)} classes "
        f"({len(judged)} with a conclusive verdict). The verdict changes for {len(changed)} "
        "class(es)"
        + (": " + ", ".join(changed["class"].astype(str)) if len(changed) else "")
        + ".",
        "",
    ]
    rows = [
        (
            r["class"],
            ci_text(r["drop_freeze"], r["ci_low_freeze"], r["ci_high_freeze"]),
            r["controlled"],
            ci_text(r["drop_controlled"], r["ci_low_controlled"], r["ci_high_controlled"]),
            r["verdict_naive"],
            r["verdict"],
        )
        for _, r in tax.iterrows()
    ]
    headers = ["class", "naive freeze drop [CI]", "controlled condition", "controlled drop [CI]"]
    headers += ["verdict (naive)", "verdict"]
    return [*lines, markdown_table(rows, headers), ""]


def _conflict_section(preds: pd.DataFrame, cues: Mapping[str, str] | None) -> list[str]:
    """Which cue predictions follow when one clip's appearance moves with another's motion."""
    table = cue_conflict(preds, {str(k): v for k, v in (cues or {}).items()} or None)
    lines = [
        "## Cue preference: appearance of one clip, motion of another",
        "",
        "Which cue wins when a clip carries both (figure `cue_preference`). This is not the "
        "single-frame question: a class recognised from any one frame may still follow a strong "
        "motion cue here, so the verdict never reads it.",
        "",
        "Each clip's frame is moved by the motion of a clip of another class (the partner). "
        "`appearance`: the share of pairs predicted as the frame's own class; `motion`: as the "
        "partner's class; `other`: anything else; `moved`: the mean share of the frame's pixels "
        "the partner's motion moves (the dense mode moves only where the partner moved, which "
        "may miss the frame's own subject; the global mode moves the whole frame). A class "
        "recognised by its appearance keeps its label whatever motion accompanies it.",
        "",
    ]
    if cues:
        lines += [
            "With known cues, the `motion_cue` rows keep only partners whose class is defined by "
            "motion (cue motion or order), the pairs where following the motion can be read.",
            "",
        ]
    return [*lines, frame_table(table.round(3)), ""]


def _frames_section(preds: pd.DataFrame) -> list[str]:
    """Accuracy from k frames, held or generated, with and without frame selection."""
    curve = frames_curve(preds)
    if curve.empty or curve["k"].nunique() < 2 and not (curve["method"] == "generator").any():
        return []
    acc = accuracy_by_intervention(preds[preds["intervention"].astype(str) == CLEAN])
    clean = float(acc["acc"].iloc[0]) if len(acc) else np.nan
    lines = [
        "## How many frames does the model need?",
        "",
        "Each condition keeps k evenly spaced frames and fills the clip back to its length: "
        "*held frames* repeats each kept frame over its segment (the naive baseline; k = 1 is "
        "the frozen frame), *generator* fills it with the class-agnostic temporal generator, "
        "which never sees the clip's own motion. `select=max` runs several candidate frames or "
        "phases and keeps the one the model is most confident about (no label used).",
        "",
        markdown_table(
            [
                (
                    r.method,
                    r.selection,
                    r.k,
                    ci_text(r.acc, r.ci_low, r.ci_high, 3),
                    ci_text(r.drop, r.drop_low, r.drop_high, 3),
                )
                for r in curve.itertuples(index=False)
            ],
            ["fill", "selection", "k", "accuracy [95 % CI]", "drop vs full clip [95 % CI]"],
        ),
        "",
    ]
    findings = []
    for (method, selection), g in curve.groupby(["method", "selection"], sort=False):
        g = g.sort_values("k")
        name = method if selection == "none" else f"{method} + select={selection}"
        steps = ", ".join(f"{r.acc:.3f} at k={r.k}" for r in g.itertuples(index=False))
        within = g[g["drop_high"] < 0.05]
        enough = (
            f"; from k = {int(within['k'].min())} on, its drop's CI stays below 0.05"
            if len(within)
            else "; no k brings its drop's CI below 0.05"
        )
        findings.append(f"- **{name}:** {steps} (full clip {clean:.3f}){enough}.")
    first = curve.loc[curve["k"] == curve["k"].min()]
    naive = first[(first["method"] == "held frames") & (first["selection"] == "none")]
    if len(naive) and len(first) > 1:
        base = naive.iloc[0]
        top = first.sort_values("acc", ascending=False, kind="stable").iloc[0]
        gain = top.acc - base.acc
        k = int(base.k)
        if gain > 0 and top.ci_low > base.acc:
            findings.append(
                f"- With k = {k}, the best controlled fill ({top.method}, selection "
                f"{top.selection}) recovers {gain:+.3f} accuracy over the naive held frame "
                "(beyond its CI): that much of the naive drop is an artifact of the static "
                "input rather than missing motion."
            )
        else:
            findings.append(
                f"- With k = {k}, no controlled fill beats the naive held frame beyond its CI "
                f"(best {top.acc:.3f} vs {base.acc:.3f}): the naive drop is not an artifact of "
                "the static input here; what is lost is the motion itself."
            )
    return [*lines, *findings, ""]


def _extremes_section(per: pd.DataFrame, tax: pd.DataFrame, count: int = 5) -> list[str]:
    """The most and least motion-dependent classes by the controlled (else naive) drop."""
    if "drop_controlled" in tax and tax["drop_controlled"].notna().any():
        col, what = "drop_controlled", "artifact-controlled single-frame drop"
    elif "drop_freeze" in tax and tax["drop_freeze"].notna().any():
        col, what = "drop_freeze", "frozen-frame drop"
    else:
        return []
    judged = tax[tax[col].notna()].sort_values(col, ascending=False, kind="stable")
    if len(judged) < 2:
        return []
    n = min(count, len(judged) // 2)

    def names(df: pd.DataFrame) -> str:
        return ", ".join(f"{r['class']} ({r[col]:.2f})" for _, r in df.iterrows())

    return [
        "## Most and least motion-dependent classes",
        "",
        f"By the {what}: most dependent {names(judged.head(n))}; least dependent "
        f"{names(judged.tail(n).iloc[::-1])}.",
        "",
    ]


def _frame_cell(r: pd.Series, frozen: pd.DataFrame) -> str:
    """Does one frame suffice: the answer, the condition that shows it, where frozen clips go."""
    by = r.get("sufficient_by")
    if r.get("sufficient") == "yes" and isinstance(by, str):
        return f"yes ({by})"
    text = str(r.get("sufficient", MISSING)) + (", a sink" if _true(r.get("sink")) else "")
    if r["class"] in frozen.index and "top_pred" in frozen.columns:
        top, share = frozen.at[r["class"], "top_pred"], frozen.at[r["class"], "top_pred_share"]
        if isinstance(top, str) and top != r["class"]:
            text += f"; frozen clips go to {top} ({share:.0%})"
    return text


def _order_cell(r: pd.Series) -> str:
    """Does the order matter: the answer with the reverse and shuffle drops."""
    parts = [f"rev {_fmt_num(r.get('drop_reverse'))}"]
    shuffle = f"shuf {_fmt_num(r.get('drop_shuffle'))}"
    if _true(r.get("shuffle_artifact")):
        shuffle += f" → sink {r.get('shuffle_to')}"
    return f"{r.get('order', MISSING)} ({', '.join([*parts, shuffle])})"


def _cue_cell(r: pd.Series) -> str:
    """The cue preference with the shares following appearance / motion."""
    pref = r.get("cue_preference")
    if not isinstance(pref, str):
        return MISSING
    app, mot = r.get("follows_appearance"), r.get("follows_motion")
    return f"{pref} ({_fmt_num(app)} / {_fmt_num(mot)})"


def _stable_cell(r: pd.Series) -> str:
    """``yes (92 %)``: whether the verdict is stable, with its bootstrap stability."""
    stab = r.get("stability")
    stable = MISSING if pd.isna(stab) else ("yes" if _true(r.get("stable")) else "no")
    stable += "" if pd.isna(stab) else f" ({100 * stab:.0f} %)"
    return stable


def _truth_section(tax: pd.DataFrame, cue_map: Mapping[str, str]) -> list[str]:
    """How many classes match the ground truth per axis, and the verdicts that miss it."""
    truth = pd.DataFrame([{"name": c, "cue": v, **AXES_BY_CUE[v]} for c, v in cue_map.items()])
    agree = agreement(tax, truth)
    lines = ["## Agreement with the ground truth", ""]
    counts = agree.groupby("axis", sort=False)["agrees"].agg(["sum", "size"])
    lines.append(
        markdown_table(
            [(a, f"{int(c['sum'])} of {int(c['size'])}") for a, c in counts.iterrows()],
            ["axis", "classes that match"],
        )
    )
    wrong = agree[~agree["agrees"] & (agree["axis"] == "verdict")]
    lines += [
        "",
        "Classes whose verdict misses: "
        + (
            ", ".join(
                f"{r['class']} ({r['got']}, expected {r['expected']})" for _, r in wrong.iterrows()
            )
            or "none"
        )
        + ".",
        "",
    ]
    return lines


def _axes_section(
    tax: pd.DataFrame, per: pd.DataFrame, cues: Mapping[str, str] | None
) -> list[str]:
    """Per class: verdict, its two axes with their evidence, cue preference, stability."""
    frozen = per[per["intervention"] == "freeze"].drop_duplicates("class").set_index("class")
    cue_map = {str(k): v for k, v in (cues or {}).items()}
    headers = ["class"] + (["cue"] if cues else [])
    headers += ["verdict", "one frame suffices", "order matters (drops)", "cue preference"]
    headers += ["stable"]
    rows = []
    for _, r in tax.iterrows():
        row = [r["class"]] + ([cue_map.get(r["class"], MISSING)] if cues else [])
        cells = [_frame_cell(r, frozen), _order_cell(r), _cue_cell(r), _stable_cell(r)]
        rows.append([*row, r["verdict"], *cells])
    lines = [
        "## Per class",
        "",
        "Two axes decide the verdict: does one frame suffice (and under which single-frame "
        "condition), and does the order matter (reverse and shuffle drops; a shuffle whose clips "
        "go to a sink is an artifact, not order). Cue preference is which cue a cue-conflict "
        "clip follows (share following appearance / motion); it is not part of the verdict. "
        "Stable: the share of bootstrap resamples of the clips that reproduce the verdict.",
        "",
        markdown_table(rows, headers),
        "",
    ]
    if cues:
        lines += _truth_section(tax, cue_map)
    return lines


def _true(value: Any) -> bool:
    """Whether a table cell holds a true flag (``True``, ``1``, ``1.0``, as read from a CSV)."""
    return str(value).lower() in ("true", "1", "1.0")


def _fmt_num(value: Any) -> str:
    """A number with two decimals; a dash when missing."""
    return MISSING if value is None or pd.isna(value) else f"{float(value):.2f}"


def _run_section(
    config: Mapping[str, Any], preds: pd.DataFrame | None, interventions: list[str]
) -> list[str]:
    """``## What was run``: model, checkpoint, data, split, interventions, seeds, provenance."""
    facts = []
    for label, keys in (
        ("Model", ("model", "model_name", "arch")),
        ("Checkpoint", ("checkpoint", "checkpoint_path", "weights")),
        ("Dataset", ("data", "dataset", "dataset_root", "data_root", "root")),
        ("Split", ("split",)),
        ("Interventions", ("interventions",)),
        ("Seeds", ("seeds", "seed")),
    ):
        value = find_setting(config, *keys) if config else None
        if value is None and label == "Interventions":
            names = preds["intervention"].astype(str) if preds is not None else interventions
            value = list(dict.fromkeys(names))
        if value is None and label == "Seeds" and preds is not None and "seed" in preds:
            value = sorted(pd.unique(preds["seed"]).tolist())
        facts.append(f"- **{label}:** {describe(value) if value is not None else 'not recorded'}")
    for label, keys in (("Git commit", ("git_commit", "commit")), ("Torch", ("torch",))):
        value = find_setting(config, *keys) if config else None
        if value is not None:
            facts.append(f"- **{label}:** {describe(value)}")
    if not config:
        facts.append("- (no config.json in the run folder)")
    return ["## What was run", "", *facts, ""]


def _accuracy_section(preds: pd.DataFrame | None) -> list[str]:
    """``## Overall accuracy``: clean accuracy and accuracy per intervention, with CIs."""
    out = ["## Overall accuracy", ""]
    if preds is not None and len(preds):
        acc = accuracy_by_intervention(preds)
        n_clips = int(acc.loc[acc["intervention"] == CLEAN, "n"].sum())
        clean_row = acc[acc["intervention"] == CLEAN]
        if len(clean_row):
            r = clean_row.iloc[0]
            out += [
                f"Clean accuracy: **{ci_text(r['acc'], r['ci_low'], r['ci_high'], 3)}** "
                f"over {n_clips} clips (95 % bootstrap CI over clips; seeds averaged per clip).",
                "",
            ]
        out.append(
            markdown_table(
                [
                    (r.intervention, r.n, ci_text(r.acc, r.ci_low, r.ci_high, 3))
                    for r in acc.itertuples(index=False)
                ],
                ["intervention", "clips", "accuracy [95 % CI]"],
            )
        )
    else:
        out.append("predictions.parquet not found: overall accuracies not available.")
    out.append("")
    return out


def _verdicts_section(tax: pd.DataFrame) -> list[str]:
    """``## Verdicts``: classes per verdict and the share recognised from a single frame."""
    out = ["## Verdicts", ""]
    counts = tax["verdict"].value_counts()
    out.append(
        markdown_table(
            [(v, int(counts.get(v, 0))) for v in VERDICTS]
            + [(v, int(c)) for v, c in counts.items() if v not in VERDICTS],
            ["verdict", "classes"],
        )
    )
    flags = (tax["verdict"] == "single_frame").to_numpy()
    share, low, high = share_ci(flags)
    judged = int((tax["verdict"] != "inconclusive").sum())
    share_j, low_j, high_j = share_ci(flags[(tax["verdict"] != "inconclusive").to_numpy()])
    out += [
        "",
        f"Share of classes recognised from a single frame (verdict single_frame): "
        f"**{pct(share)}** (95 % CI {pct(low)} – {pct(high)}) of {len(tax)} classes; "
        f"{pct(share_j)} (95 % CI {pct(low_j)} – {pct(high_j)}) of the {judged} classes "
        "with a conclusive verdict. (Bootstrap over classes.)",
        "",
    ]
    return out


def _energy_section(run_dir: Path) -> list[str]:
    """``## How much the inputs move``, from ``motion_energy.csv`` when the run has one."""
    energy_path = run_dir / "motion_energy.csv"
    if not energy_path.is_file():
        return []
    energy = pd.read_csv(energy_path)
    return [
        "## How much the inputs move",
        "",
        "Motion energy: the mean absolute difference between consecutive frames of the clips "
        "each condition fed the model (pixel units, 0 for a frozen clip); the ratio is to the "
        "clean clips. A generated or injected clip that barely moves behaves like a frozen "
        "one, whatever its name.",
        "",
        frame_table(energy),
        "",
    ]


def _oracle_note(interventions: Sequence[str]) -> list[str]:
    """A warning that ``select=oracle`` conditions read the label, when any was run."""
    if not any("select=oracle" in iv for iv in interventions):
        return []
    return [
        "Conditions with `select=oracle` pick the candidate frame with the true label's "
        "highest score: they read the label and are an upper bound, never an estimate.",
        "",
    ]


def _skipped_section(run_dir: Path) -> list[str]:
    """``## Skipped items``, from the optional ``bad_items.csv``."""
    out = ["## Skipped items", ""]
    bad_path = run_dir / "bad_items.csv"
    bad = (
        pd.read_csv(bad_path, keep_default_na=False, na_values=[""]) if bad_path.is_file() else None
    )
    if bad is None or bad.empty:
        out.append("Skipped/bad items: none.")
    else:
        used = bad["used"].astype(bool) if "used" in bad else pd.Series(False, index=bad.index)
        cols = [c for c in ("video_id", "path", "reason") if c in bad.columns] or list(bad.columns)
        out.append(f"Skipped/bad items: {int((~used).sum())}.")
        if used.any():
            out.append(
                f"Truncated videos read up to their damage (`truncated='use'`): {int(used.sum())}."
            )
        out += ["", frame_table(bad[cols])]
    out.append("")
    return out


def _how_to_read_section(config: Mapping[str, Any]) -> list[str]:
    """``## How to read this``: the verdict rule, with the run's thresholds."""
    rule = Rule().to_dict()
    for key in rule:
        found = find_setting(config, key) if config else None
        rule[key] = rule[key] if found is None else found
    return [
        "## How to read this",
        "",
        "Each drop is a class's clean accuracy minus its accuracy under the intervention, on the "
        "same clips, with a 95 % paired bootstrap CI over the class's clips. A drop is negligible "
        f"when its CI's upper bound is below {rule['min_drop']}, material when its CI's lower "
        f"bound is above 0 and the drop is at least {rule['min_drop']}, undetermined otherwise. "
        f"A class with fewer than {rule['min_n']} clips, a clean accuracy below "
        f"{rule['min_clean']} or a clean precision below {rule.get('min_precision', 0)} (the "
        "model also calls other classes' clean clips by its name) is inconclusive. A class is "
        "a *sink* under an intervention when it keeps its own clips while other classes' "
        "clips pour in (at least "
        f"{rule['min_sink']} times its own number of clips): keeping its clips then proves "
        "nothing.",
        "",
        "- **One frame suffices** when at least one single-frame condition (the frozen frame, "
        "frame selection, a frame moved by class-agnostic camera motion, the generator) costs "
        "the class a negligible drop without making it a sink; **no** when every condition run "
        "costs a material drop or makes it a sink.",
        "- **Order matters** when reversing costs a material drop (reversal keeps speeds and "
        "smoothness), or shuffling does and the shuffled clips do not go to a sink of the "
        "shuffle (shuffling also turns smooth motion jerky, and a jerky-motion class absorbs "
        "such clips whatever their order); **no** when every order test is negligible.",
        "- **Verdict**: single_frame if one frame suffices; otherwise ordered_sequence if order "
        "matters, bag_of_frames if it does not; inconclusive when an axis is undetermined.",
        "- **Cue preference** (from the cue conflict) says which cue wins when a clip carries one "
        "class's appearance and another's motion. It is reported, never used by the verdict: a "
        "class recognised from any single frame may still follow a strong motion cue.",
        "- **Stable**: the verdict survives at least 80 % of bootstrap resamples of the clips "
        "(and, where several training seeds were probed, agrees across them).",
        "",
        "The long form, every drop with its CI, precision and where the clips went, is in "
        "`per_class.csv` and `taxonomy.csv`.",
        "",
    ]


def _read_run_tables(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``per_class.csv`` and ``taxonomy.csv`` of a probe run, class names kept as text."""
    for name in ("per_class.csv", "taxonomy.csv"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: missing (needed for the report)")
    per = pd.read_csv(run_dir / "per_class.csv", keep_default_na=False, na_values=[""])
    tax = pd.read_csv(run_dir / "taxonomy.csv", keep_default_na=False, na_values=[""])
    per["class"] = per["class"].astype(str)
    per["intervention"] = per["intervention"].astype(str)
    tax["class"] = tax["class"].astype(str)
    return per, tax


def write_report(
    run_dir: str | Path,
    title: str = "What makes a video a video",
    config: Mapping[str, Any] | None = None,
    cues: Mapping[str, str] | None = None,
    pairs: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write ``run_dir/report.md`` (atomically) from the run's tables.

    Reads ``per_class.csv`` and ``taxonomy.csv`` (required), ``predictions.parquet`` (overall
    accuracies; the section is skipped when absent), and the optional ``bad_items.csv``
    (``video_id, path, reason``) and ``config.json``. Figures in ``run_dir/figures/`` are linked
    with relative paths.

    Args:
        run_dir: The run folder.
        title: Report title.
        config: Run parameters; default: ``run_dir/config.json`` when present. Model, checkpoint,
            dataset, split, interventions, seeds and taxonomy thresholds are looked up by key
            (nested dicts too).
        cues: Optional ``{class: cue}`` ground truth (synthetic data): adds a cue column and an
            agreement section.
        pairs: Classes that are each other's temporal reverse: adds where their reversed clips
            go (:func:`motionprobe.pairs.reverse_partner_rates`, written to ``pairs.csv``).

    Returns:
        The path of ``report.md``.

    >>> import tempfile, pathlib
    >>> run = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (run / "per_class.csv").write_text(
    ...     "class,intervention,n,acc,acc_clean,drop,ci_low,ci_high\\n"
    ...     "a,freeze,10,0.9,0.9,0.0,0.0,0.0\\n")
    >>> _ = (run / "taxonomy.csv").write_text("class,verdict\\na,single_frame\\n")
    >>> write_report(run).name
    'report.md'
    """
    run_dir = Path(run_dir)
    per, tax = _read_run_tables(run_dir)
    config = dict(read_config(run_dir) if config is None else config)
    preds_path = run_dir / "predictions.parquet"
    preds = pd.read_parquet(preds_path) if preds_path.is_file() else None
    interventions = list(dict.fromkeys(per["intervention"]))

    out: list[str] = [f"# {title}", ""]
    out += _run_section(config, preds, interventions)
    out += _accuracy_section(preds)
    out += _verdicts_section(tax)
    out += _extremes_section(per, tax)
    if preds is not None and len(preds):
        out += _frames_section(preds)
    out += _axes_section(tax, per, cues)
    if (
        "verdict_naive" in tax.columns
        and tax.get("controlled", pd.Series(dtype=object)).notna().any()
    ):
        out += _controlled_section(tax)
    if preds is not None and preds["intervention"].astype(str).str.startswith("conflict").any():
        out += _conflict_section(preds, cues)
    if pairs and preds is not None:
        table = reverse_partner_rates(preds, pairs)
        write_csv(run_dir / "pairs.csv", table)
        out += pairs_section(table, "ground truth" if cues else "the shipped SSv2 list")
    out += _energy_section(run_dir)
    out += _oracle_note(interventions)
    out += figure_links(run_dir)
    out += _skipped_section(run_dir)
    out += _how_to_read_section(config)
    return write_text(run_dir / "report.md", "\n".join(out))


def _class_page_figures(
    run_dir: Path, per_class_df: pd.DataFrame, taxonomy_df: pd.DataFrame, cues: Mapping[str, str]
) -> None:
    """``figures/motion_dependence[_p{i}]`` and ``figures/interventions[_p{i}]``.

    Pages of :data:`PAGE_ROWS` classes keep names legible with 400 classes (sorted by frozen drop).
    """
    interventions = set(per_class_df["intervention"])
    frozen = per_class_df[per_class_df["intervention"] == "freeze"]
    order = frozen.sort_values("drop", ascending=False, kind="stable")["class"].tolist()
    order += [c for c in dict.fromkeys(per_class_df["class"]) if c not in set(order)]
    pages = [order[i : i + PAGE_ROWS] for i in range(0, len(order), PAGE_ROWS)]
    for i, page in enumerate(pages):
        part = "" if len(pages) == 1 else f"_p{i + 1}"
        rows = per_class_df[per_class_df["class"].isin(page)]
        rows = rows.assign(_o=rows["class"].map({c: j for j, c in enumerate(page)}))
        rows = rows.sort_values("_o", kind="stable").drop(columns="_o")
        if "freeze" in interventions:
            fig = plots.motion_dependence(rows, taxonomy_df, "freeze", cues=cues or None)
            plots.save_figure(fig, run_dir / "figures" / f"motion_dependence{part}")
        fig = plots.intervention_heatmap(rows)
        plots.save_figure(fig, run_dir / "figures" / f"interventions{part}")


def _prediction_figures(
    run_dir: Path,
    preds: pd.DataFrame,
    taxonomy_df: pd.DataFrame,
    cues: Mapping[str, str],
    config: Mapping[str, Any],
) -> None:
    """``frames.csv`` and the figures drawn from the predictions: ``frames``,
    ``cue_preference`` and ``where_freeze``, each when the run has what it needs."""
    curve = frames_curve(preds)
    if len(curve) and (curve["k"].nunique() > 1 or (curve["method"] == "generator").any()):
        acc = accuracy_by_intervention(preds[preds["intervention"].astype(str) == CLEAN])
        clean = tuple(float(acc[c].iloc[0]) for c in ("acc", "ci_low", "ci_high"))
        write_csv(run_dir / "frames.csv", curve)
        fig = plots.frames_curve_plot(curve, clean, frames=int(config.get("frames") or 16))
        plots.save_figure(fig, run_dir / "figures" / "frames")
    if "follows_appearance" in taxonomy_df and taxonomy_df["follows_appearance"].notna().any():
        fig = plots.cue_preference_plot(taxonomy_df, cues or None)
        plots.save_figure(fig, run_dir / "figures" / "cue_preference")
    where = where_predictions_go(preds)
    if "freeze" in set(where["intervention"]):
        fig = plots.where_heatmap(where, "freeze")
        plots.save_figure(fig, run_dir / "figures" / "where_freeze")


def probe_report(
    run_dir: str | Path, data: str | Path | None = None, title: str = "What makes a video a video"
) -> Path:
    """Figures and ``report.md`` of a probe run folder, from its files alone.

    Draws ``figures/motion_dependence`` (per-class drop under freeze, coloured by verdict, with the
    ground-truth cue when ``data`` holds a ``classes.json``) and ``figures/interventions`` (class x
    intervention accuracy), as PNG and SVG, then writes the report.

    Args:
        run_dir: Folder written by :func:`motionprobe.probes.run_probe`.
        data: Dataset root; default: the ``data`` recorded in the run's ``config.json``.
        title: Report title.

    Returns:
        The path of ``report.md``.
    """
    run_dir = Path(run_dir)
    for name in ("per_class.csv", "taxonomy.csv"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir / name}: missing; is this a probe run folder?")
    config = read_config(run_dir)
    if data is None and config.get("data"):
        data = config["data"]
    cues = load_cues(data) if data is not None else {}
    per_class_df = pd.read_csv(run_dir / "per_class.csv")
    taxonomy_df = pd.read_csv(run_dir / "taxonomy.csv")
    _class_page_figures(run_dir, per_class_df, taxonomy_df, cues)
    preds_path = run_dir / "predictions.parquet"
    if preds_path.is_file():
        _prediction_figures(run_dir, pd.read_parquet(preds_path), taxonomy_df, cues, config)
    pairs = known_reverse_pairs(data, taxonomy_df["class"].astype(str).tolist())
    return write_report(run_dir, title=title, config=config, cues=cues or None, pairs=pairs)
