#!/usr/bin/env bash
# Compiles and lints the code behind the CUDA-only cargo features (medgym/cuda, which turns on
# medgym-kernels/candle-cuda, medgym-policy/cuda and medgym-train/cuda) on a machine without the CUDA toolkit, so
# that code cannot rot unseen.
#
# candle's CUDA build scripts run nvcc to turn its .cu kernels into PTX and objects. Here a
# stand-in `nvcc` writes those outputs empty instead: enough for `cargo clippy`, which runs the
# build scripts but never links or runs the crates' own code. Real GPU builds need the toolkit;
# this only checks the Rust code. It uses its own target folder (a second, check-mode build of
# the dependencies, a few minutes on two cores the first time).
set -euo pipefail
cd "$(dirname "$0")/.."
stand_in_dir="$PWD/target/nvcc-stand-in/bin"
mkdir -p "$stand_in_dir"
stand_in_source=$(cat <<'NVCC'
#!/usr/bin/env bash
# Stand-in for nvcc: reports a CUDA 12.8 toolkit and writes every requested output empty.
# Anything it does not recognise is an error, so a changed build script fails loudly here.
set -euo pipefail
if [[ " $* " == *" --version "* ]]; then
    # The real banner: cudarc's build script reads the version from its fourth line.
    echo "nvcc: NVIDIA (R) Cuda compiler driver"
    echo "Copyright (c) 2005-2025 NVIDIA Corporation"
    echo "Built on stand-in"
    echo "Cuda compilation tools, release 12.8, V12.8.93"
    echo "Build cuda_12.8.r12.8/compiler.stand-in"
    exit 0
fi
outputs=()
directory=""
previous=""
for argument in "$@"; do
    case "$previous" in
        -o | --output-file) outputs+=("$argument") ;;
        -odir | --output-directory) directory="$argument" ;;
    esac
    case "$argument" in
        --output-file=* | -o=*) outputs+=("${argument#*=}") ;;
        --output-directory=* | -odir=*) directory="${argument#*=}" ;;
    esac
    previous="$argument"
done
sources=()
for argument in "$@"; do
    if [[ "$argument" == *.cu ]]; then
        sources+=("$argument")
    fi
done
if [[ ${#outputs[@]} -eq 0 && ( -z "$directory" || ${#sources[@]} -eq 0 ) ]]; then
    echo "nvcc stand-in: no output requested in: nvcc $*" >&2
    exit 1
fi
for output in "${outputs[@]}"; do
    : > "$output"
done
if [[ -n "$directory" ]]; then
    for source in "${sources[@]}"; do
        : > "$directory/$(basename "$source" .cu).ptx"
    done
fi
NVCC
)
stand_in="$stand_in_dir/nvcc"
# Rewritten only when it changed, through a rename, so concurrent runs never see half a file.
if [[ ! -x "$stand_in" || "$(cat "$stand_in")" != "$stand_in_source" ]]; then
    printf '%s\n' "$stand_in_source" > "$stand_in.tmp.$$"
    chmod +x "$stand_in.tmp.$$"
    mv "$stand_in.tmp.$$" "$stand_in"
fi
PATH="$stand_in_dir:$PATH" NVCC="$stand_in" CUDARC_CUDA_VERSION=12080 \
    CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}" \
    CARGO_TARGET_DIR="$PWD/target/cuda-features" \
    cargo clippy -p medgym-kernels -p medgym-policy -p medgym-train -p medgym \
    --features medgym/cuda --all-targets -- -D warnings
echo "CUDA feature code compiles and passes clippy (kernels are stand-ins: nothing here can run)"
