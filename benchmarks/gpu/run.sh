#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SPDX-FileCopyrightText: Copyright (c) 2026 The modulus-lrsa authors
#
# The GPU checks of this project in one short run, on an offline machine with torch and CUDA
# (docs/gpu.md). Run from anywhere: bash benchmarks/gpu/run.sh [--plan] [--only STEP,...] [--no-install]
#
#   stage               copy the bundle parts carried in this call (.gpu_bundle/partN) to a staging
#                       folder; while parts are missing, stop here (exit 0): a staging call
#   install             pip install the joined wheels, offline, into a folder on PYTHONPATH
#   environment         device, torch, CUDA, cuDNN, the bundle's versions, the imports (fails without CUDA)
#   cuda-tests          tests/test_lrsa_cuda.py and the CUDA tests of tests/test_lrsa_model.py
#   compiled-gradients  torch.compile's gradients against eager, on the GPU and on this torch's CPU
#   cuda-graph-step     a captured training step against eager, where tests/ has such a test
#                       (tests/test_training_step.py::test_cuda_graph_step_matches_eager)
#   throughput          benchmarks/throughput.py, bf16, 16k to 1M points, with lrsa-train's whole
#                       step eager and captured in one CUDA graph (--cuda-graphs)
#   attention           benchmarks/attention_backends.py, both directions, bf16 and fp16
#
# Every step has a time limit (LRSA_GPU_LIMITS="step=seconds ..." changes them), all of them together
# at most LRSA_GPU_BUDGET_S (470 s, so the run ends within 8 minutes); a failing
# step does not stop the next, and the run exits non-zero if any failed. Results go to
# benchmarks/results/ (LRSA_GPU_RESULTS) and, where the variable OUT names a folder, there too
# with the whole log.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
BUNDLE=${LRSA_GPU_BUNDLE:-.gpu_bundle}
STAGE=${LRSA_GPU_STAGE:-/tmp/lrsa-gpu-bundle}
SITE=${LRSA_GPU_SITE:-/tmp/lrsa-gpu-site}
RESULTS=${LRSA_GPU_RESULTS:-benchmarks/results}
BUDGET=${LRSA_GPU_BUDGET_S:-470}
THROUGHPUT_ARGS=${LRSA_GPU_THROUGHPUT_ARGS:---sizes 16384 65536 262144 1048576 --precisions bf16 --repeats 5 --cuda-graphs}
ATTENTION_ARGS=${LRSA_GPU_ATTENTION_ARGS:---compression-bias --repeats 10 --warmup 3}
ALL_STEPS=(stage install environment cuda-tests compiled-gradients cuda-graph-step throughput attention)
# Seconds each step may take at most (the budget left may cut it shorter).
declare -A LIMIT=([stage]=60 [install]=120 [environment]=60 [cuda-tests]=150 [compiled-gradients]=150
                  [cuda-graph-step]=120 [throughput]=240 [attention]=150)
# LRSA_GPU_LIMITS="throughput=300 attention=60" changes some of them.
for pair in ${LRSA_GPU_LIMITS:-}; do
    step=${pair%%=*} seconds=${pair#*=}
    if [[ ! -v "LIMIT[$step]" || ! $seconds =~ ^[0-9]+$ ]]; then
        echo "run.sh: LRSA_GPU_LIMITS: '$pair' is not STEP=SECONDS with one of: ${ALL_STEPS[*]}" >&2
        exit 2
    fi
    LIMIT[$step]=$seconds
done
# A CUDA-graph training-step test, by name: capture (graph/captur) of a step or of training.
GRAPH_TEST_NAME='def test_[A-Za-z0-9_]*(graph|captur)[A-Za-z0-9_]*(step|train)|def test_[A-Za-z0-9_]*(step|train)[A-Za-z0-9_]*(graph|captur)'
# Those tests by node id (file::name), in files that do not import the trainer (directly or through
# tests/test_training.py): its data path needs VTK, which the bundle leaves out.
graph_tests() {
    local file
    grep -lE "$GRAPH_TEST_NAME" tests/test_*.py 2>/dev/null | while read -r file; do
        grep -qE '^(from|import) (modulus_lrsa\.training\.train|modulus_lrsa\.training import .*\btrain\b|test_training )' "$file" \
            && continue
        grep -oE "(${GRAPH_TEST_NAME})[A-Za-z0-9_]*" "$file" | sed "s|^def |$file::|"
    done
}

plan=0 install=1 only=""
while (($#)); do
    case $1 in
        --plan) plan=1 ;;
        --no-install) install=0 ;;
        --only) only=${2:?--only needs a comma-separated list of steps}; shift ;;
        -h|--help) sed -n '5,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (expected --plan, --only STEP,..., --no-install)" >&2; exit 2 ;;
    esac
    shift
done
selected=("${ALL_STEPS[@]}")
if [[ -n $only ]]; then
    IFS=, read -r -a selected <<<"$only"
    for step in "${selected[@]}"; do
        [[ -v "LIMIT[$step]" ]] || { echo "run.sh: --only: unknown step '$step' (steps: ${ALL_STEPS[*]})" >&2; exit 2; }
    done
fi
# Staging and installing come first unless --no-install (the environment as it is); on a machine
# that installed this bundle already they take a second, so `--only throughput` reruns one step.
# The environment step always runs: its JSON names the device in every result.
kept=()
((install)) && kept=(stage install)
kept+=(environment)
for step in "${selected[@]}"; do [[ $step =~ ^(stage|install|environment)$ ]] || kept+=("$step"); done
selected=("${kept[@]}")
wanted() { local s; for s in "${selected[@]}"; do [[ $s == "$1" ]] && return 0; done; return 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
LOG=$WORK/run.log
if [[ -n ${OUT:-} ]]; then mkdir -p "$OUT"; LOG=$OUT/run.log; fi
STEPS=$WORK/steps.tsv
: >"$STEPS"
: >"$LOG"
say() { printf '%s\n' "$*" | tee -a "$LOG"; }
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5//$'\t'/ }" >>"$STEPS"; }

started=$SECONDS
slug=unknown  # until the environment step names the device
ENV_JSON=$WORK/environment.json

# One step: a time limit (its own, or the budget left), its output into the log, its status recorded.
run_step() {
    local name=$1; shift
    local left=$((BUDGET - (SECONDS - started)))
    local limit=${LIMIT[$name]}
    ((left < limit)) && limit=$left
    if ((limit < 5)); then
        say "== $name: skipped, ${left}s of the ${BUDGET}s budget left"
        record "$name" "not run" "" 0 "out of time: ${left}s of the ${BUDGET}s budget left"
        return 0
    fi
    say "== $name (at most ${limit}s): $*"
    local begin=$SECONDS rc=0
    set +e
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG" "$WORK/$name.out"
    rc=${PIPESTATUS[0]}
    set -e
    local seconds=$((SECONDS - begin)) note
    # pytest's closing line, or the attention benchmark's count of rows.
    note=$(grep -E '((passed|failed|skipped|error|no tests ran).* in [0-9.]+s|^[0-9]+ rows, )' "$WORK/$name.out" \
           | tail -n 1 | sed 's/=//g; s/^ *//; s/ *$//' || true)
    if ((rc == 124 || rc == 137)); then
        record "$name" "timed out" "$rc" "$seconds" "stopped after ${limit}s${note:+; $note}"
    elif ((rc == 0)) && [[ $note =~ ^[0-9]+\ skipped && ! $note =~ passed ]]; then
        record "$name" "skipped" 0 "$seconds" "$note"
    elif ((rc == 0)); then
        record "$name" "passed" 0 "$seconds" "$note"
    else
        record "$name" "failed" "$rc" "$seconds" "${note:-$(tail -n 1 "$WORK/$name.out")}"
    fi
    return 0
}
status_of() { awk -F'\t' -v s="$1" '$1 == s {print $2}' "$STEPS" | tail -n 1; }

finish() {
    local summary=$RESULTS/gpu_${slug}_run.json
    "$PYTHON" benchmarks/gpu/bundle.py summary --steps "$STEPS" --env "$ENV_JSON" --out "$summary" 2>&1 | tee -a "$LOG" \
        || { say "summary failed; the steps:"; tee -a "$LOG" <"$STEPS"; }
    if [[ -n ${OUT:-} ]]; then
        cp -f "$summary" "$OUT/" 2>/dev/null || true
        for file in "$RESULTS/throughput_$slug.json" "$RESULTS/attention_backends_$slug.json"; do
            [[ -f $file ]] && cp -f "$file" "$OUT/"
        done
    fi
    if grep -qE $'\t(failed|timed out|not run)\t' "$STEPS"; then exit 1; fi
    exit 0
}

if ((plan)); then
    for step in "${selected[@]}"; do echo "$step: at most ${LIMIT[$step]}s"; done
    echo "budget ${BUDGET}s; throughput: $THROUGHPUT_ARGS; attention: $ATTENTION_ARGS"
    if [[ -n $(graph_tests) ]]; then
        echo "cuda-graph-step: $(graph_tests | tr '\n' ' ')"
    else
        echo "cuda-graph-step: no test in tests/ captures a training step yet"
    fi
    exit 0
fi

mkdir -p "$RESULTS"
say "benchmarks/gpu/run.sh in $ROOT, steps: ${selected[*]}, budget ${BUDGET}s"

if wanted stage; then
    set +e
    timeout --kill-after=10 "${LIMIT[stage]}" "$PYTHON" benchmarks/gpu/bundle.py assemble --bundle "$BUNDLE" \
        --stage "$STAGE" 2>&1 | tee -a "$LOG"
    rc=${PIPESTATUS[0]}
    set -e
    if ((rc == 3)); then
        say "staging call: this part is kept in $STAGE while the machine stays warm; nothing else runs"
        exit 0
    fi
    if ((rc != 0)); then
        record stage failed "$rc" 0 "$(tail -n 1 "$LOG")"
        for step in "${selected[@]}"; do [[ $step == stage ]] || record "$step" "not run" "" 0 "staging failed"; done
        finish
    fi
    record stage passed 0 0 "$(tail -n 1 "$LOG")"
fi
if wanted install; then
    WHEELS=$(cat "$STAGE/ready")
    id=$(basename "$(dirname "$WHEELS")")
    if [[ -f $SITE/.bundle_id && $(cat "$SITE/.bundle_id") == "$id" ]]; then
        say "== install: bundle $id already installed in $SITE"
        record install passed 0 0 "already installed ($id)"
    else
        rm -rf "$SITE"
        run_step install "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$SITE" "$WHEELS"/*.whl
        [[ $(status_of install) == passed ]] && echo "$id" >"$SITE/.bundle_id"
    fi
    if [[ $(status_of install) != passed ]]; then
        for step in "${selected[@]}"; do [[ $step == stage || $step == install ]] || record "$step" "not run" "" 0 "install failed"; done
        finish
    fi
    export PYTHONPATH=$SITE:$ROOT${PYTHONPATH:+:$PYTHONPATH}
    MANIFEST=$(dirname "$WHEELS")/manifest.json
else
    export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
    MANIFEST=
fi
export PYTHONUNBUFFERED=1

allow_cpu=()
[[ ${LRSA_GPU_ALLOW_CPU:-0} == 1 ]] && allow_cpu=(--allow-cpu)
run_step environment "$PYTHON" benchmarks/gpu/bundle.py environment ${MANIFEST:+--manifest "$MANIFEST"} \
    "${allow_cpu[@]}" --out "$ENV_JSON"
if [[ -f $ENV_JSON ]]; then
    slug=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["slug"])' "$ENV_JSON")
    cp -f "$ENV_JSON" "$RESULTS/gpu_${slug}_environment.json"
fi

PYTEST=("$PYTHON" -m pytest -p no:cacheprovider -q -rfEs)
if wanted cuda-tests; then
    run_step cuda-tests "${PYTEST[@]}" tests/test_lrsa_cuda.py tests/test_lrsa_model.py -k "cuda and not compile"
fi
if wanted compiled-gradients; then
    run_step compiled-gradients "${PYTEST[@]}" tests/test_lrsa_cuda.py tests/test_lrsa_model.py \
        -k "compile and (gradient or backward)"
fi
if wanted cuda-graph-step; then
    mapfile -t graph_ids < <(graph_tests || true)
    if ((${#graph_ids[@]})); then
        run_step cuda-graph-step "${PYTEST[@]}" "${graph_ids[@]}"
    else
        say "== cuda-graph-step: skipped, no test in tests/ captures a training step yet (looked for test names with graph/captur and step/train)"
        record cuda-graph-step skipped "" 0 "no CUDA-graph training-step test in tests/ yet"
    fi
fi
if wanted throughput; then
    # shellcheck disable=SC2086  # the arguments are a list on purpose
    run_step throughput "$PYTHON" benchmarks/throughput.py $THROUGHPUT_ARGS --out "$RESULTS/throughput_$slug.json"
fi
if wanted attention; then
    left=$((BUDGET - (SECONDS - started)))
    limit=$((left < LIMIT[attention] ? left : LIMIT[attention]))
    # shellcheck disable=SC2086
    run_step attention "$PYTHON" benchmarks/attention_backends.py $ATTENTION_ARGS --time-limit $((limit > 40 ? limit - 30 : 10)) \
        --out "$RESULTS/attention_backends_$slug.json"
fi
finish
