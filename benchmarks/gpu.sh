#!/usr/bin/env bash
# The checks a lent GPU machine runs, as one script (under 8 minutes on one H200, 16 cores):
#
#   1. the GPU tests (`pytest -m gpu`): bf16 training steps of every full-size model with
#      channels-last, a 1-GPU NCCL run under torchrun, probe, evaluation, attribution and TV-L1
#      on CUDA against the CPU. Required: the script fails if they do.
#   2. the GPU figures (each optional: a figure that fails or is not there yet is logged as
#      missing, not fatal):
#      - training: I3D RGB 64x224x224, batch 8, bf16, channels-last: clips/s and model FLOP
#        utilisation against the card's dense bf16 peak (benchmarks/train_step.py);
#      - probe: clips/s of the probe engine, naive and full suites (benchmarks/probes.py);
#      - TV-L1: pairs/s of the torch TV-L1 (benchmarks/flow.py --torch);
#      - loader: clips/s per CPU worker (benchmarks/train.py --loader);
#   3. unless --tiny: the full-size model benchmark (benchmarks/models.py: clips/s and MFU per
#      model in bf16) and, only when asked for (--validate or VALIDATE=1, it takes 6 minutes or
#      more on its own and does not fit the 8), the probe-validity campaign: `motionprobe
#      validate` for c3d_tiny and i3d_rgb_tiny on every control family, 2 seeds, 4x the CPU
#      default's training clips, the 12 runs in parallel on the one GPU, then gathered.
#
# Usage (from the repository root):
#   bash benchmarks/gpu.sh [--device DEV] [--tiny] [--validate]
#     --device DEV  torch device (default cuda, or $DEVICE)
#     --tiny        tiny models, few frames, small crops, fp32 on a CPU: the whole script in a
#                   minute or two on 2 CPU cores (`--device cpu --tiny` is run by the tests, so
#                   the script cannot rot before a GPU is at hand); same as SMOKE=1 or TINY=1
#     --validate    also run the validation campaign (smoke-sized with --tiny)
# Without CUDA, `pytest -m gpu` collects the GPU tests and skips every one (exit status 0).
#
# Results land in $OUT (default outputs/gpu): log.txt (every step with its exit status and time,
# and a summary of the figures at its end), each step's full output as STEP.txt, the validation
# tables as validity.tar.gz. Wheels of packages the machine lacks (PyAV, Captum, tensorboardX) are
# installed from .whl/ when that folder exists. The whole run stops starting steps after BUDGET
# seconds (default 470) and cuts each step at the time left.
# Knobs: DEVICE, TINY (or SMOKE)=1, VALIDATE=1, PYTHON (default python3), BUDGET, OUT, WORK and,
# for the validation, PER_CLASS, FAMILIES, SEEDS, I3D_LR, RUN_TIMEOUT (seconds per run).
set -uo pipefail

OUT=${OUT:-outputs/gpu}
WORK=${WORK:-/tmp/motionprobe_gpu}
PER_CLASS=${PER_CLASS:-128}
FAMILIES=${FAMILIES:-squares spin swarm}
SEEDS=${SEEDS:-0 1}
I3D_LR=${I3D_LR:-0.004}
RUN_TIMEOUT=${RUN_TIMEOUT:-360}
DEVICE=${DEVICE:-cuda}
SMOKE=${SMOKE:-0}
TINY=${TINY:-$SMOKE}
VALIDATE=${VALIDATE:-0}
BUDGET=${BUDGET:-470}
PYTHON=${PYTHON:-python3}

while [ $# -gt 0 ]; do
    case $1 in
        --device) DEVICE=${2:?--device needs a value}; shift 2 ;;
        --device=*) DEVICE=${1#--device=}; shift ;;
        --tiny) TINY=1; shift ;;
        --validate) VALIDATE=1; shift ;;
        -h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu.sh: unknown argument $1 (--device DEV, --tiny, --validate)" >&2; exit 2 ;;
    esac
done
[ "$TINY" = 1 ] && SMOKE=1

mkdir -p "$OUT" "$WORK" || exit 1
LOG="$OUT/log.txt"
: >"$LOG"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

say() { echo "[$(date +%T)] $*" | tee -a "$LOG"; }

FAILED=()   # required steps that failed
SUMMARY=()  # "figure NAME: LINE" or "figure NAME: missing (why)"

# step NAME REQUIRED SECONDS CMD...: run CMD under the time left (at most SECONDS), its output in
# $OUT/NAME.txt and its tail in the log; a failed REQUIRED (1) step fails the script.
step() {
    local name=$1 required=$2 limit=$3
    shift 3
    local left=$((BUDGET - SECONDS))
    if [ "$left" -lt 10 ]; then
        say "step $name: not run, the ${BUDGET} s budget is spent"
        [ "$required" = 1 ] && FAILED+=("$name")
        return 1
    fi
    [ "$left" -lt "$limit" ] && limit=$left
    say "step $name (limit $limit s): $*"
    local start=$SECONDS rc
    timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
    rc=$?
    tail -n 12 "$OUT/$name.txt" | sed 's/^/    /' | tee -a "$LOG"
    say "step $name: exit $rc in $((SECONDS - start)) s$([ "$rc" = 124 ] && echo ' (timed out)')"
    if [ "$rc" != 0 ] && [ "$required" = 1 ]; then FAILED+=("$name"); fi
    return "$rc"
}

# figure NAME STEP PATTERN: the lines of STEP's output matching PATTERN go to the summary.
figure() {
    local name=$1 from=$2 pattern=$3 line found=0
    if [ -f "$OUT/$from.txt" ]; then
        while IFS= read -r line; do
            SUMMARY+=("figure $name: $line")
            found=1
        done < <(grep -E -- "$pattern" "$OUT/$from.txt")
    fi
    [ "$found" = 1 ] || SUMMARY+=("figure $name: missing (see $OUT/$from.txt and the log)")
}

# has FILE FLAG: whether the benchmark FILE knows FLAG yet (else its step is logged as missing).
has() { grep -q -- "\"$2\"" "$1"; }

if [ -d .whl ] && ! "$PYTHON" -c 'import av, captum' 2>/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
say "gpu.sh: device $DEVICE, tiny $TINY, validate $VALIDATE, budget $BUDGET s, out $OUT"
if command -v nvidia-smi >/dev/null; then
    say "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)"
else
    say "no nvidia-smi on this machine"
fi
say "$("$PYTHON" -c 'import torch, av; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "av", av.__version__, "cores", __import__("os").cpu_count())' 2>&1)"

# 1. The GPU tests: on a machine without CUDA (e.g. --device cpu on a CPU) they are collected and
#    all skipped, which passes; where CUDA is present they run, whatever --device says.
step gpu-tests 1 200 "$PYTHON" -m pytest -q -rs -m gpu -p no:cacheprovider tests/test_gpu.py

# 2. The figures.
if [ "$TINY" = 1 ]; then
    step train-figure 0 120 "$PYTHON" benchmarks/train_step.py --model i3d_rgb_tiny --frames 8 \
        --size 32 --batch 4 --steps 3 --device "$DEVICE"
    step probe-figure 0 120 "$PYTHON" benchmarks/probes.py --model i3d_rgb_tiny --size 32 \
        --video-size 32 --per-class 1 --suites naive --seeds 0 --device "$DEVICE"
else
    step train-figure 0 90 "$PYTHON" benchmarks/train_step.py --model i3d_rgb --frames 64 \
        --size 224 --batch 8 --steps 10 --device "$DEVICE"
    step probe-figure 0 90 "$PYTHON" benchmarks/probes.py --device "$DEVICE"
fi
TINY_FLAG=() FIG_LIMIT=60
[ "$TINY" = 1 ] && TINY_FLAG=(--tiny) FIG_LIMIT=120  # 2 busy CPU cores are slow to start torch
if has benchmarks/flow.py --torch; then
    step tvl1-figure 0 "$FIG_LIMIT" "$PYTHON" benchmarks/flow.py --torch --device "$DEVICE" "${TINY_FLAG[@]}"
else
    say "step tvl1-figure: not run, benchmarks/flow.py has no --torch yet" | tee "$OUT/tvl1-figure.txt"
fi
if has benchmarks/train.py --loader; then
    step loader-figure 0 "$FIG_LIMIT" "$PYTHON" benchmarks/train.py --loader --device "$DEVICE" "${TINY_FLAG[@]}"
else
    say "step loader-figure: not run, benchmarks/train.py has no --loader yet" | tee "$OUT/loader-figure.txt"
fi

# 3. The full-size model benchmark, and the validation campaign when asked for.
if [ "$TINY" != 1 ]; then
    step models-benchmark 0 90 "$PYTHON" benchmarks/models.py --device "$DEVICE" --repeats 3
fi

validate() {
    # Data first (one process per family and frame side), so the parallel runs of a family never
    # synthesise the same folder twice.
    size_of() { "$PYTHON" -c "from motionprobe.studies.probe_validity import default_size; print(default_size('$1'))"; }
    options() {  # the validate options of a model (the same in the parallel runs and the gathering)
        local opts=(--out "$WORK/validity" --device "$DEVICE" --train-per-class "$PER_CLASS")
        [ "$1" = i3d_rgb_tiny ] && opts+=(--lr "$I3D_LR")
        [ "$SMOKE" = 1 ] && opts+=(--smoke)
        echo "${opts[@]}"
    }
    local models="c3d_tiny i3d_rgb_tiny" model family seed size f
    say "synthesising: $FAMILIES at $PER_CLASS training clips per class"
    for model in $models; do
        size=$(size_of "$model")
        for family in $FAMILIES; do
            "$PYTHON" -c "
from pathlib import Path
from motionprobe.studies.probe_validity import family_data
family_data(Path('$WORK/validity/data'), '$family', $size, $SMOKE == 1, False, $PER_CLASS)
" &
        done
    done
    wait
    say "training and probing: $models x $FAMILIES x seeds $SEEDS in parallel"
    for model in $models; do
        for family in $FAMILIES; do
            for seed in $SEEDS; do
                # shellcheck disable=SC2046  # options() is a list of words
                timeout "$RUN_TIMEOUT" "$PYTHON" -c 'import sys; from motionprobe.cli import main; sys.exit(main())' \
                    validate --model "$model" --families "$family" --seeds "$seed" $(options "$model") \
                    >"$WORK/$model-$family-$seed.log" 2>&1 &
            done
        done
    done
    wait
    for f in "$WORK"/*.log; do say "$(basename "$f"): $(tail -1 "$f")"; done
    say "gathering"
    for model in $models; do
        # shellcheck disable=SC2046
        timeout 150 "$PYTHON" -c 'import sys; from motionprobe.cli import main; sys.exit(main())' \
            validate --model "$model" --families "${FAMILIES// /,}" --seeds "${SEEDS// /,}" \
            $(options "$model") 2>&1 | tail -2 | tee -a "$LOG"
    done
    (cd "$WORK/validity" && find . -path ./data -prune -o \( -name '*.csv' -o -name '*.md' \
        -o -name '*.json' -o -name 'agreement.png' \) -print | tar czf - -T -) >"$OUT/validity.tar.gz"
}
if [ "$VALIDATE" = 1 ]; then
    start=$SECONDS
    say "validation campaign (VALIDATE=1; not within the budget)"
    validate
    say "validation campaign: $((SECONDS - start)) s"
fi

# The summary.
figure training train-figure '^train-step'
figure probe probe-figure '^probe '
figure tvl1 tvl1-figure '^tvl1-torch'
figure loader loader-figure 'clips/s per (CPU )?worker'
[ "$TINY" = 1 ] || figure models models-benchmark 'GFLOP/clip'
say "summary ($SECONDS s in all):"
for line in "${SUMMARY[@]}"; do say "$line"; done
if [ ${#FAILED[@]} -gt 0 ]; then
    say "FAILED: ${FAILED[*]}"
    exit 1
fi
say "done: $OUT"
