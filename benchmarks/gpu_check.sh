#!/usr/bin/env bash
# Check whet on a machine with an NVIDIA GPU, in a few minutes: install it with a CUDA build of
# torch and the lock, print the machine (GPU, driver, torch, CUDA, bf16, matrix-product peaks),
# run the tests that must run on the GPU and the suite's GPU-relevant tests, and the
# time-to-accuracy benchmark when it is there. Everything printed also goes to OUT/gpu_check.log;
# the last lines are one per step (ok, failed, skipped, not run), and the exit code is 1 when a
# step failed.
#
#   bash benchmarks/gpu_check.sh                    # from the repository root
#   SKIP_INSTALL=1 bash benchmarks/gpu_check.sh     # use VENV's Python (or PYTHON) as it is
#
# Settings, as environment variables:
#   VENV             the virtual environment to create or reuse (.venv-gpu: .venv is the CPU one)
#   PYTHON           the Python to create it with (python3). When that Python already imports a
#                    CUDA build of torch, the environment uses that torch and downloads none:
#                    the way to run on a machine with torch preinstalled and no network
#   TORCH_SPEC       the torch to install otherwise (the Makefile's TORCH_SPEC, the version the
#                    lock was tested with; PyPI's Linux x86-64 wheels of torch are CUDA builds)
#   TORCH_INDEX_URL  the index to install it from instead of pip's own, e.g.
#                    https://download.pytorch.org/whl/cu126 for a driver too old for the default
#   WHEELS           a folder of wheels to install whet's requirements from without a network,
#                    filled on a machine with one: pip download -d WHEELS -c constraints.txt ".[dev]"
#   SKIP_INSTALL=1   install nothing (also --skip-install)
#   DATA             the datasets folder for the benchmark (../shared/data): each data option
#                    its --help lists gets its folder there (--data and --conll: conll2003,
#                    --banking: banking77)
#   BENCH_MAX_SENTENCES, BENCH_MAX_DEV
#                    a short run when it has no --quick: --max-sentences (2000), --max-dev (500)
#   BENCH_ARGS       the benchmark's arguments, instead of those chosen from its --help
#   TEST_TIMEOUT     seconds each test step may take (300); BENCH_TIMEOUT the same for the benchmark (240)
#   OUT              where the log and the test reports go (runs/gpu-check-<date>-<time>)

# No -e inside the steps: each step is called as an `if` condition (where bash ignores -e) and
# returns its own status, so a failed step is recorded and the next one still runs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; }
for argument in "$@"; do
    case "$argument" in
        --skip-install) SKIP_INSTALL=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "gpu_check: unknown argument $argument (see --help)" >&2; exit 2 ;;
    esac
done

VENV=${VENV:-.venv-gpu}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-$(sed -n 's/^TORCH_SPEC ?= *//p' Makefile)}
TORCH_SPEC=${TORCH_SPEC:-torch}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-}
WHEELS=${WHEELS:-}
SKIP_INSTALL=${SKIP_INSTALL:-0}
DATA=${DATA:-../shared/data}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-240}
BENCH_MAX_SENTENCES=${BENCH_MAX_SENTENCES:-2000}
BENCH_MAX_DEV=${BENCH_MAX_DEV:-500}
OUT=${OUT:-runs/gpu-check-$(date +%Y%m%d-%H%M%S)}
LOCK=constraints.txt
BENCHMARK=benchmarks/time_to_accuracy.py
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

mkdir -p "$OUT"
LOG=$OUT/gpu_check.log
exec > >(tee -a "$LOG") 2>&1

# What the steps leave for the ones after them.
PY=""         # the Python that runs the tests
GPU_NAME=""   # from nvidia-smi, empty when there is no NVIDIA GPU
GPU_COUNT=0
CUDA_OK=0     # 1 once torch in PY has used the GPU
# A step sets NOTE (said when it is ok) or REASON (when it failed or skipped); exit 3 means skipped.
NOTE=""
REASON=""
SKIPPED=3
RESULTS=()

section() { printf '\n== %s\n' "$*"; }

run_step() {  # run_step NAME FUNCTION: run it, time it, record ok / failed / skipped
    local name=$1 started status=0
    NOTE="" REASON=""
    section "$name"
    started=$SECONDS
    if "$2"; then status=0; else status=$?; fi
    local took="$((SECONDS - started)) s"
    if [ "$status" -eq 0 ]; then
        RESULTS+=("ok|$name|${NOTE:+$NOTE, }$took")
    elif [ "$status" -eq "$SKIPPED" ]; then
        RESULTS+=("skipped|$name|$REASON")
    else
        RESULTS+=("failed|$name|${REASON:-exit code $status}, $took")
    fi
}

not_run() {  # not_run NAME WHY
    RESULTS+=("not run|$1|$2")
}

# -- the GPU, as the driver sees it ------------------------------------------------------------

step_gpu() {
    if ! command -v nvidia-smi >/dev/null 2>&1; then
        REASON="no CUDA device: nvidia-smi is not on PATH (no NVIDIA GPU or driver on this machine)"
        echo "$REASON"
        return 1
    fi
    local listed
    if ! listed=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1) || [ -z "$listed" ]; then
        REASON="no CUDA device: nvidia-smi finds no usable GPU ($(echo "$listed" | head -n1))"
        echo "$REASON"
        return 1
    fi
    echo "$listed"
    GPU_COUNT=$(echo "$listed" | wc -l)
    GPU_NAME=$(echo "$listed" | head -n1 | tr -s ' ')
    NOTE="$GPU_COUNT x $GPU_NAME"
}

# -- install -----------------------------------------------------------------------------------

# torch_build PYTHON: prints "VERSION CUDA" (CUDA is None for a CPU build); fails when torch does not import.
torch_build() {
    "$1" -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>/dev/null
}

has_cuda_torch() {
    local build
    build=$(torch_build "$1") && [ "${build##* }" != None ]
}

# reachable PYTHON URL: whether the package index answers within 5 s.
reachable() {
    "$1" - "$2" <<'EOF' >/dev/null 2>&1
import sys
import urllib.request

urllib.request.urlopen(sys.argv[1], timeout=5)
EOF
}

# missing_requirements PYTHON: says which of whet's requirements (pyproject.toml's, the dev extra
# included) are absent and which installed versions differ from the lock; fails when one is absent.
missing_requirements() {
    "$1" - "$LOCK" <<'EOF'
import sys
from importlib import metadata

try:
    import tomllib
except ImportError:  # Python 3.10
    from pip._vendor import tomli as tomllib

try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement

with open("pyproject.toml", "rb") as file:
    project = tomllib.load(file)["project"]
locked = {}
for line in open(sys.argv[1], encoding="utf-8"):
    name, _, version = line.split("#")[0].split(";")[0].strip().partition("==")
    if version:
        locked[name.lower().replace("_", "-")] = version.strip()
missing, unlike = [], []
for text in project["dependencies"] + project["optional-dependencies"]["dev"]:
    requirement = Requirement(text)
    name = requirement.name.lower().replace("_", "-")
    try:
        version = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        missing.append(requirement.name)
        continue
    if name in locked and version != locked[name]:
        unlike.append(f"{name} {version} (lock {locked[name]})")
if unlike:
    print("not the locked versions: " + ", ".join(unlike))
if missing:
    print("missing: " + ", ".join(missing))
    sys.exit(1)
EOF
}

# use_torch_of PYTHON: makes PYTHON's torch importable in VENV. A venv sees none of PYTHON's
# packages when PYTHON is itself a venv (--system-site-packages reaches the base Python's only),
# so a .pth file adds PYTHON's package folders as site folders (their own .pth files included):
# its torch and the CUDA libraries beside it import unchanged, and what is installed into VENV
# comes before them.
use_torch_of() {
    local site_packages
    site_packages=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || return 1
    "$1" -c 'import os, site, torch
folders = [os.path.dirname(os.path.dirname(torch.__file__)), *site.getsitepackages()]
for folder in dict.fromkeys(folders):
    print(f"import site; site.addsitedir({folder!r})")' > "$site_packages/whet-gpu-check-base.pth" || return 1
    echo "$site_packages/whet-gpu-check-base.pth adds $1's package folders"
}

step_install() {
    if [ "$SKIP_INSTALL" = 1 ]; then
        if [ -x "$VENV/bin/python" ]; then PY=$VENV/bin/python; else PY=$(command -v "$PYTHON" || echo "$PYTHON"); fi
        REASON="SKIP_INSTALL=1: running with $PY as it is"
        echo "$REASON"
        return "$SKIPPED"
    fi
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        REASON="PYTHON=$PYTHON is not a command; set PYTHON to a Python 3.11 or newer"
        echo "$REASON"
        return 1
    fi
    if [ -x "$VENV/bin/python" ]; then
        echo "reusing $VENV"
    else
        echo "creating $VENV with $PYTHON ($("$PYTHON" --version 2>&1))"
        # Without ensurepip (Debian's python3 lacking python3-venv) the venv gets no pip of its
        # own; it then runs pip from PYTHON's packages, once use_torch_of has added them.
        if ! "$PYTHON" -m venv "$VENV" >"$OUT/venv.log" 2>&1; then
            echo "$PYTHON -m venv failed ($(tail -n1 "$OUT/venv.log")): creating it without pip"
            if ! "$PYTHON" -m venv --without-pip "$VENV"; then
                REASON="$PYTHON -m venv $VENV failed ($(tail -n1 "$OUT/venv.log"))"
                return 1
            fi
        fi
    fi
    PY=$VENV/bin/python
    local version='import sys; print("%d.%d" % sys.version_info[:2])'
    if [ "$("$PY" -c "$version")" != "$("$PYTHON" -c "$version")" ]; then
        REASON="$VENV holds Python $("$PY" -c "$version") but PYTHON=$PYTHON is $("$PYTHON" -c "$version"); remove $VENV or choose another VENV"
        echo "$REASON"
        return 1
    fi
    local index=${TORCH_INDEX_URL:-${PIP_INDEX_URL:-https://pypi.org/simple/pip/}} online=0
    if reachable "$PY" "$index"; then online=1; else echo "no network: $index does not answer"; fi

    # torch first, a CUDA build: VENV's own, else PYTHON's, else one downloaded.
    local torch_note build
    if has_cuda_torch "$PY"; then
        torch_note="torch $(torch_build "$PY" | cut -d' ' -f1) in $VENV"
        echo "$torch_note is a CUDA build: reused"
    elif has_cuda_torch "$PYTHON"; then
        if build=$(torch_build "$PY"); then
            echo "torch ${build% *} in $VENV is a CPU build: removing it for $PYTHON's"
            "$PY" -m pip uninstall --quiet --yes torch || { REASON="pip uninstall torch failed in $VENV"; return 1; }
        fi
        use_torch_of "$PYTHON" || { REASON="could not list $PYTHON's folders in $VENV"; return 1; }
        if ! has_cuda_torch "$PY"; then
            REASON="$PYTHON's CUDA torch does not import in $VENV; set VENV to a new folder"
            echo "$REASON"
            return 1
        fi
        torch_note="torch $(torch_build "$PY" | cut -d' ' -f1) of $PYTHON, preinstalled"
        echo "$torch_note: a CUDA build, used as it is (nothing downloaded)"
    elif [ "$online" = 0 ]; then
        REASON="no network, and neither $VENV nor PYTHON=$PYTHON imports a CUDA build of torch; set PYTHON to a Python that does"
        echo "$REASON"
        return 1
    else
        if ! "$PY" -m pip --version >/dev/null 2>&1; then
            REASON="$VENV has no pip to install torch with (install python3-venv for $PYTHON)"
            echo "$REASON"
            return 1
        fi
        if build=$(torch_build "$PY"); then
            echo "torch ${build% *} in $VENV is a CPU build: replacing it"
            "$PY" -m pip uninstall --quiet --yes torch || { REASON="pip uninstall torch failed in $VENV"; return 1; }
        fi
        "$PY" -m pip install --quiet --upgrade pip || echo "(pip not upgraded)"
        if [ -n "$TORCH_INDEX_URL" ]; then
            # Without the lock: that index may not hold the locked versions of torch's requirements.
            echo "pip install --index-url $TORCH_INDEX_URL $TORCH_SPEC"
            "$PY" -m pip install --quiet --index-url "$TORCH_INDEX_URL" "$TORCH_SPEC" \
                || { REASON="installing $TORCH_SPEC from $TORCH_INDEX_URL failed"; return 1; }
        else
            echo "pip install -c $LOCK $TORCH_SPEC"
            "$PY" -m pip install --quiet -c "$LOCK" "$TORCH_SPEC" || { REASON="installing $TORCH_SPEC failed"; return 1; }
        fi
        if ! has_cuda_torch "$PY"; then
            REASON="pip installed torch $(torch_build "$PY" | cut -d' ' -f1), a CPU build; choose a CUDA one with TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cu128)"
            echo "$REASON"
            return 1
        fi
        torch_note="torch $(torch_build "$PY" | cut -d' ' -f1) installed"
        echo "$torch_note"
    fi

    # Then whet with the lock, as the Makefile installs it, unless pyproject.toml and the lock are
    # unchanged since the last time.
    local stamp=$VENV/.whet-gpu-check-installed
    if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ "$stamp" -nt "$LOCK" ] && "$PY" -c 'import whet' 2>/dev/null; then
        NOTE="$torch_note; whet installed earlier: $(cat "$stamp")"
        echo "whet is installed in $VENV ($(cat "$stamp")) and pyproject.toml and $LOCK are unchanged since"
        return 0
    fi
    if ! "$PY" -m pip --version >/dev/null 2>&1; then
        REASON="$VENV has no pip (install python3-venv for $PYTHON, or choose a PYTHON with pip)"
        echo "$REASON"
        return 1
    fi
    local find_links=()
    if [ -n "$WHEELS" ]; then find_links=(--find-links "$WHEELS"); fi
    local how
    if [ "$online" = 1 ]; then
        echo "pip install -c $LOCK -e .[dev]"
        "$PY" -m pip install --quiet ${find_links[@]+"${find_links[@]}"} -c "$LOCK" -e ".[dev]" \
            || { REASON="pip install -c $LOCK -e .[dev] failed"; return 1; }
        how="with the lock"
    elif [ -n "$WHEELS" ]; then
        echo "pip install --no-index --find-links $WHEELS -c $LOCK -e .[dev]"
        "$PY" -m pip install --quiet --no-index --no-build-isolation "${find_links[@]}" -c "$LOCK" -e ".[dev]" \
            || { REASON="installing from WHEELS=$WHEELS failed (a wheel of a version the lock names is missing there?)"; return 1; }
        how="with the lock, from $WHEELS"
    else
        # No network and no wheels: whet itself over the packages already there, then what it lacks.
        echo "no network and no WHEELS: pip install --no-index --no-build-isolation --no-deps -e ."
        if ! "$PY" -m pip install --quiet --no-index --no-build-isolation --no-deps -e . >"$OUT/pip-whet.log" 2>&1; then
            # Building needs a setuptools recent enough for pyproject.toml, which may not be there;
            # the tests need only the source importable (they run `python -m whet`).
            local site_packages
            site_packages=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || return 1
            pwd > "$site_packages/whet-gpu-check-source.pth"
            echo "could not build whet here ($OUT/pip-whet.log): its source is importable through $site_packages/whet-gpu-check-source.pth instead"
        fi
        local problems
        if ! problems=$(missing_requirements "$PY"); then
            echo "$problems"
            REASON="no network, and whet's requirements are not all there ($(echo "$problems" | tail -n1)); bring them as wheels in WHEELS"
            return 1
        fi
        echo "${problems:-every requirement is there, at the locked version}"
        how="without the lock, over the packages already there"
    fi
    echo "$how" > "$stamp"
    NOTE="$torch_note; whet installed $how"
}

# -- the machine -------------------------------------------------------------------------------

step_machine() {
    nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_cap,power.limit,clocks.max.sm --format=csv || true
    nvidia-smi || true
    local errors=$OUT/machine.stderr status=0
    "$PY" - 2>"$errors" <<'EOF' | tee "$OUT/machine.txt" || status=$?
import sys


def describe(torch) -> None:
    print(f"python {sys.version.split()[0]} ({sys.executable})")
    print(f"torch {torch.__version__} ({torch.__file__})")
    if torch.version.cuda is None:
        sys.exit(f"no CUDA device: torch {torch.__version__} is a CPU build")
    print(f"CUDA {torch.version.cuda} (torch's build), cuDNN {torch.backends.cudnn.version()}")
    if not torch.cuda.is_available():
        sys.exit(f"no CUDA device: torch {torch.__version__} (CUDA {torch.version.cuda}) sees none; "
                 f"is the driver older than this build needs?")
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        print(f"device {index}: {props.name}, compute capability {props.major}.{props.minor}, "
              f"{props.total_memory / 2**30:.1f} GiB, {props.multi_processor_count} multiprocessors")
    print(f"torch.cuda.is_bf16_supported(): {torch.cuda.is_bf16_supported()}")


def matmul_peaks(torch) -> None:
    """TFLOP/s of n x n x n products: the mean of 10 after 3 warm-ups, per precision."""
    n = 8192 if torch.cuda.get_device_properties(0).total_memory > 8 * 2**30 else 4096
    for name, dtype, matmul_precision in [("fp32", torch.float32, "highest"), ("tf32", torch.float32, "high"),
                                          ("bf16", torch.bfloat16, "highest")]:
        try:
            torch.set_float32_matmul_precision(matmul_precision)  # "high" lets float32 products use TF32
            a, b = (torch.randn(n, n, device="cuda", dtype=dtype) for _ in range(2))
            for _ in range(3):
                a @ b
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(10):
                a @ b
            end.record()
            torch.cuda.synchronize()
            seconds = start.elapsed_time(end) / 1000
            print(f"matmul {name}: {2 * n**3 * 10 / seconds / 1e12:.1f} TFLOP/s ({n}x{n}x{n})")
        except Exception as error:  # one precision the GPU cannot do is reported, the others still run
            print(f"matmul {name}: failed: {str(error).strip().splitlines()[0]}")
        finally:
            torch.set_float32_matmul_precision("highest")


# What goes wrong here (a broken install, a driver too old) is the finding: one line, no traceback.
try:
    import torch
except Exception as error:
    sys.exit(f"torch does not import in {sys.executable}: {type(error).__name__}: {error}")
try:
    describe(torch)
    matmul_peaks(torch)
except Exception as error:
    sys.exit(f"torch failed on the GPU: {type(error).__name__}: {str(error).strip().splitlines()[0]}")
EOF
    cat "$errors"
    if [ "$status" -ne 0 ]; then
        REASON=$(grep -v '^\s*$' "$errors" | tail -n1)
        return 1
    fi
    CUDA_OK=1
    NOTE=$(grep -h '^matmul bf16' "$OUT/machine.txt" | sed 's/ (.*//')
}

# -- tests -------------------------------------------------------------------------------------

# pytest_step NAME ARGS...: run pytest with a JUnit report; fails when any test failed or none passed.
pytest_step() {
    local name=$1 report=$OUT/$1.xml status=0
    shift
    echo "python -m pytest -q $*"
    timeout -k 10 "$TEST_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider --junitxml="$report" "$@" || status=$?
    if [ "$status" -eq 124 ]; then REASON="stopped after TEST_TIMEOUT=$TEST_TIMEOUT s"; return 1; fi
    local counts
    if ! counts=$("$PY" - "$report" <<'EOF'
import sys
import xml.etree.ElementTree as ET

suites = ET.parse(sys.argv[1]).getroot()
suites = [suites] if suites.tag == "testsuite" else list(suites)
tests, failures, errors, skipped = (sum(int(s.get(k, 0)) for s in suites)
                                    for k in ("tests", "failures", "errors", "skipped"))
print(f"{tests - failures - errors - skipped} passed, {failures} failed, {errors} errors, {skipped} skipped")
EOF
    ); then
        REASON="pytest exited with $status and wrote no report"
        return 1
    fi
    if [ "$status" -eq 5 ]; then REASON="no test was collected"; return 1; fi
    if [ "$status" -ne 0 ]; then REASON="$counts"; return 1; fi
    if [[ "$counts" == "0 passed"* ]]; then REASON="no test passed ($counts)"; return 1; fi
    NOTE="$counts"
}

step_gpu_tests() {
    # Tests that check their work runs on the GPU; they fail without one (tests/integration/test_gpu.py).
    pytest_step gpu-tests -m gpu tests/integration/test_gpu.py
}

step_gpu_suite() {
    # The suite's tests that take a different path on a GPU: bf16 autocast and the other training
    # options, causal-LM training and generation, generation through the server, resuming (which
    # restores the GPU's random state too) and, with two GPUs or more, data-parallel training in
    # two processes, which needs a GPU per process.
    local tests=(tests/integration/test_training_options.py tests/integration/test_causal_lm.py
                 tests/integration/serve/test_serve_generate.py tests/integration/test_resume.py)
    if [ "$GPU_COUNT" -ge 2 ]; then
        tests+=(tests/integration/test_distributed.py)
    else
        echo "tests/integration/test_distributed.py left out: two processes need two GPUs"
    fi
    pytest_step gpu-suite "${tests[@]}"
}

# -- the benchmark -----------------------------------------------------------------------------

# offers OPTION < HELP: whether a --help text lists OPTION.
offers() {
    grep -qE -- "$1([^-_[:alnum:]]|\$)"
}

step_benchmark() {
    if [ ! -f "$BENCHMARK" ]; then
        REASON="$BENCHMARK is not there"
        echo "$REASON"
        return "$SKIPPED"
    fi
    local help arguments=()
    if ! help=$("$PY" "$BENCHMARK" --help 2>&1); then
        echo "$help"
        REASON="$BENCHMARK --help failed: $(echo "$help" | tail -n1)"
        return 1
    fi
    if [ -n "${BENCH_ARGS:-}" ]; then
        read -r -a arguments <<< "$BENCH_ARGS"
    else
        # Each data option it offers gets its folder under DATA; then a short run: --quick, or
        # else a cut of the data.
        local option folder offered=0 given=0
        for option in --data=conll2003 --conll=conll2003 --banking=banking77; do
            folder=$DATA/${option#*=}
            option=${option%%=*}
            if offers "$option" <<< "$help"; then
                offered=$((offered + 1))
                if [ -d "$folder" ]; then
                    arguments+=("$option" "$folder")
                    given=$((given + 1))
                else
                    echo "$option left out: no $folder"
                fi
            fi
        done
        if [ "$offered" -gt 0 ] && [ "$given" -eq 0 ]; then
            REASON="none of its data is under DATA=$DATA"
            echo "$REASON"
            return "$SKIPPED"
        fi
        if offers --quick <<< "$help"; then
            arguments+=(--quick)
        else
            if offers --max-sentences <<< "$help"; then arguments+=(--max-sentences "$BENCH_MAX_SENTENCES"); fi
            if offers --max-dev <<< "$help"; then arguments+=(--max-dev "$BENCH_MAX_DEV"); fi
        fi
    fi
    echo "python $BENCHMARK ${arguments[*]}"
    local status=0
    timeout -k 10 "$BENCH_TIMEOUT" "$PY" "$BENCHMARK" ${arguments[@]+"${arguments[@]}"} || status=$?
    if [ "$status" -eq 124 ]; then REASON="stopped after BENCH_TIMEOUT=$BENCH_TIMEOUT s"; return 1; fi
    if [ "$status" -ne 0 ]; then REASON="exit code $status"; return 1; fi
    NOTE="${arguments[*]:-no arguments}"
}

# -- the run -----------------------------------------------------------------------------------

echo "gpu_check $(date '+%Y-%m-%d %H:%M:%S') on ${HOSTNAME:-$(uname -n)}, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "log: $LOG"

run_step gpu step_gpu
if [ -z "$GPU_NAME" ]; then
    # Without a GPU nothing below can check anything: install nothing (a CUDA torch is gigabytes).
    for step in install machine gpu-tests gpu-suite benchmark; do not_run "$step" "no NVIDIA GPU"; done
else
    run_step install step_install
    run_step machine step_machine
    if [ "$CUDA_OK" = 1 ]; then
        run_step gpu-tests step_gpu_tests
        run_step gpu-suite step_gpu_suite
        run_step benchmark step_benchmark
    else
        for step in gpu-tests gpu-suite benchmark; do not_run "$step" "torch cannot use the GPU (see machine)"; done
    fi
fi

section "summary"
failed=""
for result in "${RESULTS[@]}"; do
    IFS='|' read -r status name detail <<< "$result"
    printf '%-8s %-10s %s\n' "$status" "$name" "$detail"
    if [ "$status" = failed ] && [ -z "$failed" ]; then failed="$name: $detail"; fi
done
if [ -n "$failed" ]; then
    echo "gpu_check: failed: $failed (log: $LOG)"
    exit 1
fi
echo "gpu_check: every step ok or skipped (log: $LOG)"
