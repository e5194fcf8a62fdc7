#!/usr/bin/env bash
# Builds the CUDA features (medgym-policy/cuda, medgym-kernels/candle-cuda) for real on a machine
# with or without a CUDA toolkit or driver: the CUDA 13.0 compiler, headers and libraries come from
# NVIDIA's PyPI wheels into target/cuda-toolkit (about 1.3 GB, once). Arguments go to `cargo`:
#
#   scripts/build_cuda.sh build --release -p medgym-policy --features cuda --example gpu_speed
#   scripts/build_cuda.sh test --release -p medgym-kernels --features candle-cuda --no-run
#
# Outputs land in target/cuda-real. They link libcuda.so.1, cuBLAS/cuBLASLt 13, cuRAND 10 and the
# CUDA 13 runtime: run them where a driver of CUDA 13 or newer and those libraries are on the
# loader path (e.g. the `nvidia/cu13/lib` folder of a CUDA 13 PyTorch install). Where no driver is
# installed, linking uses a stub libcuda made here (it is never loaded at run time).
# CUDA_COMPUTE_CAP picks the GPU generation the kernels target (default 90, Hopper).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD/target/cuda-toolkit"
cuda="$root/nvidia/cu13"
wheels=(
    "nvidia-cuda-nvcc==13.0.88" "nvidia-nvvm==13.0.88" "nvidia-cuda-crt==13.0.88"
    "nvidia-cuda-cccl==13.0.85" "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-nvrtc==13.0.88"
    "nvidia-cublas==13.0.2.14" "nvidia-curand==10.4.5.25"
)
if [[ ! -x "$cuda/bin/nvcc" || ! -e "$cuda/lib/libcublasLt.so.13" ]]; then
    python3 -m pip install --quiet --no-deps --target "$root" "${wheels[@]}"
fi
# The linker looks for unversioned names; the wheels ship only versioned ones.
for library in cublas cublasLt cudart nvrtc; do
    ln -sf "lib$library.so.13" "$cuda/lib/lib$library.so"
done
ln -sf libcurand.so.10 "$cuda/lib/libcurand.so"
if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\b'; then
    # A link-time stand-in for the driver library: every entry point cudarc's bindings name.
    stub_dir="$root/driver-stub"
    mkdir -p "$stub_dir"
    bindings=$(cargo metadata --format-version 1 \
        | python3 -c "import json,sys; print(next(p['manifest_path'] for p in json.load(sys.stdin)['packages'] if p['name'] == 'cudarc'))")
    grep -oh 'pub unsafe fn cu[A-Za-z0-9_]*' "$(dirname "$bindings")/src/driver/sys/mod.rs" \
        | awk '{print "int " $4 "(void) { return 999; }"}' | sort -u > "$stub_dir/stub.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stub_dir/libcuda.so" "$stub_dir/stub.c"
    export RUSTFLAGS="${RUSTFLAGS:-} -L native=$stub_dir"
fi
PATH="$cuda/bin:$PATH" CUDA_ROOT="$cuda" CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}" \
    CARGO_TARGET_DIR="$PWD/target/cuda-real" cargo "$@"
