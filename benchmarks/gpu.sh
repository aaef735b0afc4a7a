#!/usr/bin/env bash
# The checks a lent GPU machine runs, as one script (about 8 minutes on one H200, 16 cores):
#
#   1. the GPU tests (`pytest -m gpu`: probe and evaluation agree with the CPU, bf16 finite);
#   2. `motionprobe validate` for c3d_tiny and i3d_rgb_tiny on every control family, 2 seeds, with
#      4x the CPU default's training clips (what the tiny models need to learn `spin` and `swarm`):
#      the 12 trainings and probe runs go in parallel on the one GPU, then each model's validation
#      is rerun once to gather the finished runs into its agreement table;
#   3. the full-size model benchmark (benchmarks/models.py: clips/s and MFU in bf16).
#
# Run from the repository root: `bash benchmarks/gpu.sh`. Results land in $OUT (default
# outputs/gpu): log.txt, the validation tables as validity.tar.gz, the benchmark's output.
# Wheels of packages the machine lacks (PyAV, Captum, tensorboardX) are installed from .whl/ when
# that folder exists. Knobs: PER_CLASS, FAMILIES, SEEDS, I3D_LR, RUN_TIMEOUT (seconds per run),
# DEVICE, SMOKE=1 (tiny data, one epoch: checks the script itself on a CPU).
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
mkdir -p "$OUT" "$WORK"
LOG="$OUT/log.txt"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 OMP_NUM_THREADS=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

say() { echo "[$(date +%T)] $*" | tee -a "$LOG"; }

if [ -d .whl ] && ! python3 -c 'import av, captum' 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
say "$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1)"
say "$(python3 -c 'import torch, av; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "av", av.__version__)')"

# 1. The GPU tests.
say "gpu tests"
timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py 2>&1 | tail -5 | tee -a "$LOG"

# 2. Validation. Data first (one process per family and frame side), so the parallel runs of a
#    family never synthesise the same folder twice.
size_of() { python3 -c "from motionprobe.studies.probe_validity import default_size; print(default_size('$1'))"; }
options() {  # the validate options of a model (the same in the parallel runs and the gathering)
    local opts=(--out "$WORK/validity" --device "$DEVICE" --train-per-class "$PER_CLASS")
    [ "$1" = i3d_rgb_tiny ] && opts+=(--lr "$I3D_LR")
    [ "$SMOKE" = 1 ] && opts+=(--smoke)
    echo "${opts[@]}"
}
MODELS="c3d_tiny i3d_rgb_tiny"
say "synthesising: $FAMILIES at $PER_CLASS training clips per class"
for model in $MODELS; do
    size=$(size_of "$model")
    for family in $FAMILIES; do
        python3 -c "
from pathlib import Path
from motionprobe.studies.probe_validity import family_data
family_data(Path('$WORK/validity/data'), '$family', $size, $SMOKE == 1, False, $PER_CLASS)
" &
    done
done
wait
say "training and probing: $MODELS x $FAMILIES x seeds $SEEDS in parallel"
for model in $MODELS; do
    for family in $FAMILIES; do
        for seed in $SEEDS; do
            # shellcheck disable=SC2046  # options() is a list of words
            timeout "$RUN_TIMEOUT" python3 -c 'import sys; from motionprobe.cli import main; sys.exit(main())' \
                validate --model "$model" --families "$family" --seeds "$seed" $(options "$model") \
                >"$WORK/$model-$family-$seed.log" 2>&1 &
        done
    done
done
wait
for f in "$WORK"/*.log; do say "$(basename "$f"): $(tail -1 "$f")"; done
say "gathering"
for model in $MODELS; do
    # shellcheck disable=SC2046
    timeout 150 python3 -c 'import sys; from motionprobe.cli import main; sys.exit(main())' \
        validate --model "$model" --families "${FAMILIES// /,}" --seeds "${SEEDS// /,}" \
        $(options "$model") 2>&1 | tail -2 | tee -a "$LOG"
done
(cd "$WORK/validity" && find . -path ./data -prune -o \( -name '*.csv' -o -name '*.md' \
    -o -name '*.json' -o -name 'agreement.png' \) -print | tar czf - -T -) >"$OUT/validity.tar.gz"

# 3. Full-size models: clips/s and model FLOP utilisation in bf16.
say "full-size model benchmark"
[ "$SMOKE" = 1 ] || timeout 90 python3 benchmarks/models.py --device "$DEVICE" --repeats 3 >"$OUT/bench_models.txt" 2>&1
tail -25 "$OUT/bench_models.txt" | tee -a "$LOG"
say "done: $OUT"
