#!/usr/bin/env bash
# Compiles and lints the code behind the CUDA-only cargo features (medgym-kernels/candle-cuda,
# medgym-policy/cuda) on a machine without the CUDA toolkit, so that code cannot rot unseen.
#
# candle's CUDA build runs nvcc to turn its .cu kernels into PTX and objects. Here a stand-in
# `nvcc` writes empty files instead: enough for `cargo clippy`, which neither links nor runs
# anything. Real GPU builds need the toolkit; this only checks the Rust code.
set -euo pipefail
cd "$(dirname "$0")/.."
stand_in="$PWD/target/nvcc-stand-in/bin"
mkdir -p "$stand_in"
cat > "$stand_in/nvcc" <<'NVCC'
#!/usr/bin/env bash
# Stand-in for nvcc: reports a CUDA 12.8 toolkit and writes every requested output empty.
set -euo pipefail
if [[ " $* " == *" --version "* ]]; then
    echo "Cuda compilation tools, release 12.8, V12.8.93"
    exit 0
fi
output=""
directory=""
previous=""
for argument in "$@"; do
    case "$previous" in
        -o) output="$argument" ;;
        --output-directory) directory="$argument" ;;
    esac
    previous="$argument"
done
if [[ -n "$output" ]]; then
    : > "$output"
fi
if [[ -n "$directory" ]]; then
    for argument in "$@"; do
        if [[ "$argument" == *.cu ]]; then
            : > "$directory/$(basename "$argument" .cu).ptx"
        fi
    done
fi
NVCC
chmod +x "$stand_in/nvcc"
PATH="$stand_in:$PATH" CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}" \
    CARGO_TARGET_DIR="$PWD/target/cuda-features" \
    cargo clippy -p medgym-kernels -p medgym-policy \
    --features medgym-kernels/candle-cuda,medgym-policy/cuda --all-targets -- -D warnings
echo "CUDA feature code compiles and passes clippy (kernels are stand-ins: nothing here can run)"
