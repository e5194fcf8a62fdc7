#!/usr/bin/env bash
# Builds the CUDA features (medgym/cuda, medgym-policy/cuda, medgym-kernels/candle-cuda,
# medgym-train/cuda) for real on an x86-64 Linux machine with python3, pip, PyPI access and a C/C++
# compiler, with or without a CUDA toolkit or driver: NVIDIA's CUDA 13.0 compiler, headers and
# libraries come from their PyPI wheels into target/cuda-toolkit (about 1.3 GB, once). Arguments go
# to `cargo`:
#
#   scripts/build_cuda.sh build --release -p medgym-policy --features cuda --example gpu_speed
#   scripts/build_cuda.sh test --release -p medgym-kernels --features candle-cuda --no-run
#
# Outputs land in target/cuda-real. They link libcuda.so.1 (the driver, CUDA 13 or newer), cuBLAS
# and cuBLASLt 13, cuRAND 10, NVRTC 13 and the CUDA 13 runtime: run them where those are on the
# loader path (the toolkit's own copies are in target/cuda-toolkit/nvidia/cu13/lib; this script
# puts them there for `cargo test` and `cargo run`). Linking always uses a stub libcuda made here,
# so no driver is needed to build; the real driver is loaded at run time.
# CUDA_COMPUTE_CAP picks the GPU generation candle's kernels target: by default the first GPU's,
# as nvidia-smi reports it, else 90 (Hopper).
# cudarc's Rust bindings are those of CUDA 12.8 (the kernels crate fixes that version for its
# build without a toolkit); they run against the CUDA 13 libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/target/cuda-toolkit"
cuda="$root/nvidia/cu13"
wheels=(
    "nvidia-cuda-nvcc==13.0.88" "nvidia-nvvm==13.0.88" "nvidia-cuda-crt==13.0.88"
    "nvidia-cuda-cccl==13.0.85" "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-nvrtc==13.0.88"
    "nvidia-cublas==13.0.2.14" "nvidia-curand==10.4.5.25"
)
# A stamp names the wheels a finished install holds: a missing or different one reinstalls.
stamp="$root/installed-wheels"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "${wheels[*]}" ]]; then
    rm -rf "$root.partial"
    python3 -m pip install --quiet --no-deps --target "$root.partial" "${wheels[@]}"
    printf '%s' "${wheels[*]}" > "$root.partial/installed-wheels"
    rm -rf "$root"
    mv "$root.partial" "$root"
fi
# The linker looks for unversioned names; the wheels ship only versioned ones.
for library in cublas cublasLt cudart nvrtc; do
    ln -sf "lib$library.so.13" "$cuda/lib/lib$library.so"
done
ln -sf libcurand.so.10 "$cuda/lib/libcurand.so"
# A link-time stand-in for the driver: every entry point cudarc's bindings name, under the driver's
# soname. cudarc's build searches `$CUDA_ROOT/lib/stubs`.
# Rebuilt whenever the cudarc version in Cargo.lock (the bindings' path) changes.
stub_dir="$cuda/lib/stubs"
cudarc_manifest=$(cargo metadata --format-version 1 | python3 -c '
import json, sys
paths = [p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "cudarc"]
print(paths[0] if paths else "")')
bindings="$(dirname "$cudarc_manifest")/src/driver/sys/mod.rs"
if [[ ! -e "$stub_dir/libcuda.so" || "$(cat "$stub_dir/bindings" 2>/dev/null)" != "$bindings" ]]; then
    if [[ -z "$cudarc_manifest" || ! -f "$bindings" ]]; then
        echo "build_cuda.sh: cudarc's driver bindings were not found (looked for $bindings)" >&2
        exit 1
    fi
    mkdir -p "$stub_dir"
    { grep -oh 'pub unsafe fn cu[A-Za-z0-9_]*' "$bindings" || true; } \
        | awk '{print "int " $4 "(void) { return 999; }"}' | sort -u > "$stub_dir/stub.c"
    if [[ ! -s "$stub_dir/stub.c" ]]; then
        echo "build_cuda.sh: no driver entry points found in $bindings" >&2
        exit 1
    fi
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stub_dir/libcuda.so" "$stub_dir/stub.c"
    printf '%s' "$bindings" > "$stub_dir/bindings"
fi
compute_cap="${CUDA_COMPUTE_CAP:-}"
if [[ -z "$compute_cap" ]]; then
    compute_cap=$( (nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null || true) \
        | head -n 1 | tr -d '. ')
    # nvidia-smi without a driver prints its complaint on stdout: anything but a number means 90.
    [[ "$compute_cap" =~ ^[0-9]+[af]?$ ]] || compute_cap=90
fi
# Other CUDA locations a user may have set would mix a second toolkit into the build.
env -u CUDA_HOME -u CUDA_PATH -u CUDA_TOOLKIT_ROOT_DIR -u CUDNN_LIB -u NVCC -u CUDARC_CUDA_VERSION \
    PATH="$cuda/bin:$PATH" CUDA_ROOT="$cuda" CUDA_COMPUTE_CAP="$compute_cap" \
    LD_LIBRARY_PATH="$cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    CARGO_TARGET_DIR="$PWD/target/cuda-real" cargo "$@"
