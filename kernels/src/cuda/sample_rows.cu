// Row sampling kernel: one block per row. Compiled at run time by NVRTC with --fmad=false,
// --ftz=false and --prec-div=true, after a prelude that defines the DET_* constants exactly as
// the CPU backend uses them (kernels/src/detmath.rs). Every step mirrors kernels/src/row.rs:
// sums are exact u64 fixed-point integers, so reductions do not depend on thread order.

typedef unsigned int u32;
typedef unsigned long long u64;

#define BLOCK 256
#define PARAM_WORDS 16
#define STATUS_WORDS 4
#define NO_INDEX 0xffffffffu

#define STATUS_OK 0u
#define STATUS_NON_FINITE 1u
#define STATUS_NO_FINITE 2u
#define STATUS_SCALED_OVERFLOW 3u
#define STATUS_PENALISED_OVERFLOW 4u
#define STATUS_DRAW_FAILED 5u

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

__device__ __forceinline__ float det_exp(float x) {
    float clamped = fmaxf(x, DET_EXP_FLOOR);
    float n = rintf(clamped * DET_LOG2_E);
    float reduced = fmaf(n, -DET_LN2_HIGH, clamped);
    reduced = fmaf(n, -DET_LN2_LOW, reduced);
    float poly = DET_EXP_COEFFICIENTS[0];
#pragma unroll
    for (int k = 1; k < 8; ++k) {
        poly = fmaf(poly, reduced, DET_EXP_COEFFICIENTS[k]);
    }
    float scale = __int_as_float(((int)n + 127) << 23);
    return poly * scale;
}

__device__ __forceinline__ u64 fixed_weight(float exponential) {
    double shifted = (double)exponential * DET_FIXED_SCALE + DET_ROUNDING_MAGIC;
    return (u64)__double_as_longlong(shifted) - (u64)__double_as_longlong(DET_ROUNDING_MAGIC);
}

__device__ double det_ln_fixed(u64 total) {
    if (total < 1ull) {
        total = 1ull;
    }
    long long exponent = 63 - __clzll((long long)total);
    double as_float = __ull2double_rn(total);
    double mantissa = as_float * __longlong_as_double((long long)(1023 - exponent) << 52);
    if (mantissa > DET_SQRT2_F64) {
        mantissa *= 0.5;
        exponent += 1;
    }
    double ratio = (mantissa - 1.0) / (mantissa + 1.0);
    double ratio_squared = ratio * ratio;
    double series = DET_LN_COEFFICIENTS[0];
    for (int k = 1; k < 12; ++k) {
        series = fma(series, ratio_squared, DET_LN_COEFFICIENTS[k]);
    }
    double log_mantissa = 2.0 * ratio * series;
    return (double)(exponent - DET_FIXED_BITS) * DET_LN2_F64 + log_mantissa;
}

__device__ __forceinline__ float log_prob(float value, float max, u64 total) {
    return (float)((double)(value - max) - det_ln_fixed(total));
}

__device__ void philox(u32 counter[4], u32 key0, u32 key1) {
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            key0 += PHILOX_W0;
            key1 += PHILOX_W1;
        }
        u32 high0 = __umulhi(PHILOX_M0, counter[0]);
        u32 low0 = PHILOX_M0 * counter[0];
        u32 high1 = __umulhi(PHILOX_M1, counter[2]);
        u32 low1 = PHILOX_M1 * counter[2];
        u32 next0 = high1 ^ counter[1] ^ key0;
        u32 next2 = high0 ^ counter[3] ^ key1;
        counter[0] = next0;
        counter[1] = low1;
        counter[2] = next2;
        counter[3] = low0;
    }
}

__device__ __forceinline__ float penalised_logit(float logit, u32 count, float repetition,
                                                 float frequency, float presence) {
    if (count == 0u) {
        return logit;
    }
    float value = logit;
    if (repetition != 1.0f) {
        value = value > 0.0f ? value / repetition : value * repetition;
    }
    float scaled_count = frequency * (float)count;
    value = value - scaled_count;
    return value - presence;
}

__device__ __forceinline__ bool is_finite(float value) {
    return value == value && fabsf(value) != __int_as_float(0x7f800000);
}

__device__ float block_max(float value, float* shared) {
    shared[threadIdx.x] = value;
    __syncthreads();
    for (u32 stride = BLOCK / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) {
            shared[threadIdx.x] = fmaxf(shared[threadIdx.x], shared[threadIdx.x + stride]);
        }
        __syncthreads();
    }
    float result = shared[0];
    __syncthreads();
    return result;
}

__device__ u64 block_sum(u64 value, u64* shared) {
    shared[threadIdx.x] = value;
    __syncthreads();
    for (u32 stride = BLOCK / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) {
            shared[threadIdx.x] += shared[threadIdx.x + stride];
        }
        __syncthreads();
    }
    u64 result = shared[0];
    __syncthreads();
    return result;
}

__device__ u32 block_min(u32 value, u32* shared) {
    shared[threadIdx.x] = value;
    __syncthreads();
    for (u32 stride = BLOCK / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) {
            shared[threadIdx.x] = min(shared[threadIdx.x], shared[threadIdx.x + stride]);
        }
        __syncthreads();
    }
    u32 result = shared[0];
    __syncthreads();
    return result;
}

// Sum of fixed-point weights of det_exp(s - max) over values with exponential >= floor.
__device__ u64 masked_total(const float* values, u32 vocab, float max, float floor, u64* shared) {
    u64 local = 0ull;
    for (u32 i = threadIdx.x; i < vocab; i += BLOCK) {
        float e = det_exp(values[i] - max);
        if (e >= floor) {
            local += fixed_weight(e);
        }
    }
    return block_sum(local, shared);
}

// Largest exponential t with measure({e >= t, e >= floor}) >= target (radix, 8 bits per level).
// Returns false when the measure never reaches target.
__device__ bool radix_threshold(const float* values, u32 vocab, float max, float floor, u64 target,
                                bool by_mass, u64* histogram, int* shared_digit,
                                u64* shared_above, float* result) {
    u32 prefix = 0u;
    u32 prefix_mask = 0u;
    u64 remaining = target;
    for (int level = 0; level < 4; ++level) {
        int shift = 24 - 8 * level;
        for (u32 i = threadIdx.x; i < 256u; i += BLOCK) {
            histogram[i] = 0ull;
        }
        __syncthreads();
        for (u32 i = threadIdx.x; i < vocab; i += BLOCK) {
            float e = det_exp(values[i] - max);
            u32 bits = __float_as_uint(e);
            if (e >= floor && (bits & prefix_mask) == prefix) {
                atomicAdd(&histogram[(bits >> shift) & 255u], by_mass ? fixed_weight(e) : 1ull);
            }
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            u64 above = 0ull;
            int digit = -1;
            for (int d = 255; d >= 0; --d) {
                u64 through = above + histogram[d];
                if (through >= remaining && histogram[d] > 0ull) {
                    digit = d;
                    break;
                }
                above = through;
            }
            *shared_digit = digit;
            *shared_above = above;
        }
        __syncthreads();
        int digit = *shared_digit;
        u64 above = *shared_above;
        __syncthreads();
        if (digit < 0) {
            return false;
        }
        remaining -= above;
        prefix |= (u32)digit << shift;
        prefix_mask |= 255u << shift;
    }
    *result = __uint_as_float(prefix);
    return true;
}

// Status words: code, token index, logit bits, processed-value bits.
__device__ void write_status(u32* status, u32 code, u32 index, u32 logit_bits, u32 value_bits) {
    status[0] = code;
    status[1] = index;
    status[2] = logit_bits;
    status[3] = value_bits;
}

extern "C" __global__ void __launch_bounds__(BLOCK) sample_rows(
    const float* __restrict__ logits, u32 vocab, const u32* __restrict__ params,
    const u32* __restrict__ history_tokens, const u32* __restrict__ history_counts,
    float* __restrict__ scratch, u32* __restrict__ tokens, float* __restrict__ logprobs,
    float* __restrict__ processed_logprobs, u32* __restrict__ status_words) {
    __shared__ float shared_float[BLOCK];
    __shared__ u64 shared_u64[BLOCK];
    __shared__ u32 shared_u32[BLOCK];
    __shared__ u64 histogram[256];
    __shared__ int shared_digit;
    __shared__ u64 shared_above;
    __shared__ u32 shared_found;

    const u32 row = blockIdx.x;
    const u32 tid = threadIdx.x;
    const float* x = logits + (u64)row * vocab;
    float* s = scratch + (u64)row * vocab;
    const u32* p = params + (u64)row * PARAM_WORDS;
    u32* status = status_words + (u64)row * STATUS_WORDS;

    const float temperature = __uint_as_float(p[0]);
    const float min_p = __uint_as_float(p[1]);
    const float repetition = __uint_as_float(p[2]);
    const float presence = __uint_as_float(p[3]);
    const float frequency = __uint_as_float(p[4]);
    const u32 top_k = p[5];
    const u64 top_p_fixed = (u64)p[6] | ((u64)p[7] << 32);
    const u32 history_offset = p[14];
    const u32 history_length = p[15];
    const bool greedy = temperature == 0.0f;

    // 1. Checks and the raw log-softmax normaliser.
    float local_max = __int_as_float(0xff800000);
    u32 local_bad = NO_INDEX;
    for (u32 i = tid; i < vocab; i += BLOCK) {
        float value = x[i];
        if (!(value < __int_as_float(0x7f800000))) {
            local_bad = min(local_bad, i);
        }
        local_max = fmaxf(local_max, value);
    }
    u32 bad = block_min(local_bad, shared_u32);
    if (bad != NO_INDEX) {
        if (tid == 0) write_status(status, STATUS_NON_FINITE, bad, __float_as_uint(x[bad]), 0u);
        return;
    }
    const float raw_max = block_max(local_max, shared_float);
    if (raw_max == __int_as_float(0xff800000)) {
        if (tid == 0) write_status(status, STATUS_NO_FINITE, 0u, 0u, 0u);
        return;
    }
    u64 local_total = 0ull;
    for (u32 i = tid; i < vocab; i += BLOCK) {
        local_total += fixed_weight(det_exp(x[i] - raw_max));
    }
    const u64 raw_total = block_sum(local_total, shared_u64);

    // 2. Processed logits: temperature, then penalties for the history tokens.
    u32 local_overflow = NO_INDEX;
    for (u32 i = tid; i < vocab; i += BLOCK) {
        float value = greedy ? x[i] : x[i] / temperature;
        if (is_finite(x[i]) && !is_finite(value)) {
            local_overflow = min(local_overflow, i);
        }
        s[i] = value;
    }
    u32 overflow = block_min(local_overflow, shared_u32);
    if (overflow != NO_INDEX) {
        if (tid == 0) write_status(status, STATUS_SCALED_OVERFLOW, overflow, __float_as_uint(x[overflow]), 0u);
        return;
    }
    u32 local_penalty_error = NO_INDEX;
    for (u32 h = tid; h < history_length; h += BLOCK) {
        u32 token = history_tokens[history_offset + h];
        float logit = x[token];
        float penalised = penalised_logit(logit, history_counts[history_offset + h], repetition,
                                          frequency, presence);
        float value = greedy ? penalised : penalised / temperature;
        if ((is_finite(logit) && !is_finite(penalised)) ||
            (is_finite(penalised) && !is_finite(value))) {
            local_penalty_error = min(local_penalty_error, token);
        }
        s[token] = value;
    }
    u32 penalty_error = block_min(local_penalty_error, shared_u32);
    if (penalty_error != NO_INDEX) {
        for (u32 h = tid; h < history_length; h += BLOCK) {
            if (history_tokens[history_offset + h] == penalty_error) {
                float logit = x[penalty_error];
                float penalised = penalised_logit(logit, history_counts[history_offset + h],
                                                  repetition, frequency, presence);
                if (is_finite(logit) && !is_finite(penalised)) {
                    write_status(status, STATUS_PENALISED_OVERFLOW, penalty_error, __float_as_uint(logit), __float_as_uint(penalised));
                } else {
                    write_status(status, STATUS_SCALED_OVERFLOW, penalty_error, __float_as_uint(penalised), 0u);
                }
            }
        }
        return;
    }

    // 3. Largest processed logit; greedy takes its first index.
    local_max = __int_as_float(0xff800000);
    for (u32 i = tid; i < vocab; i += BLOCK) {
        local_max = fmaxf(local_max, s[i]);
    }
    const float max = block_max(local_max, shared_float);
    if (max == __int_as_float(0xff800000)) {
        if (tid == 0) write_status(status, STATUS_NO_FINITE, 0u, 0u, 0u);
        return;
    }
    if (greedy) {
        u32 local_first = NO_INDEX;
        for (u32 i = tid; i < vocab; i += BLOCK) {
            if (s[i] == max) {
                local_first = min(local_first, i);
            }
        }
        u32 first = block_min(local_first, shared_u32);
        if (tid == 0) {
            tokens[row] = first;
            logprobs[row] = log_prob(x[first], raw_max, raw_total);
            processed_logprobs[row] = 0.0f;
            write_status(status, STATUS_OK, 0u, 0u, 0u);
        }
        return;
    }

    // 4. Filters: min-p, top-k, then top-p on what is left.
    const u64 all_total = masked_total(s, vocab, max, 0.0f, shared_u64);
    float floor = min_p > 0.0f ? min_p : 0.0f;
    float cut = 0.0f;
    if (top_k > 0u && top_k < vocab) {
        if (radix_threshold(s, vocab, max, 0.0f, (u64)top_k, false, histogram, &shared_digit,
                            &shared_above, &cut)) {
            floor = fmaxf(floor, cut);
        }
    }
    if (top_p_fixed < (1ull << 32)) {
        u64 filtered = floor == 0.0f ? all_total : masked_total(s, vocab, max, floor, shared_u64);
        u64 high = __umul64hi(filtered, top_p_fixed);
        u64 low = filtered * top_p_fixed;
        u64 target = (high << 32) | (low >> 32);
        if (target < 1ull) {
            target = 1ull;
        }
        if (radix_threshold(s, vocab, max, floor, target, true, histogram, &shared_digit,
                            &shared_above, &cut)) {
            floor = fmaxf(floor, cut);
        }
    }
    const u64 kept_total = floor == 0.0f ? all_total : masked_total(s, vocab, max, floor, shared_u64);

    // 5. Integer draw over contiguous per-thread chunks.
    u32 counter[4] = {p[12], p[13], p[10], p[11]};
    philox(counter, p[8], p[9]);
    const u64 word = ((u64)counter[0] << 32) | (u64)counter[1];
    const u64 target = __umul64hi(word, kept_total);
    const u32 chunk = (vocab + BLOCK - 1) / BLOCK;
    const u32 start = min(vocab, tid * chunk);
    const u32 end = min(vocab, start + chunk);
    u64 chunk_mass = 0ull;
    for (u32 i = start; i < end; ++i) {
        float e = det_exp(s[i] - max);
        if (e >= floor) {
            chunk_mass += fixed_weight(e);
        }
    }
    shared_u64[tid] = chunk_mass;
    __syncthreads();
    if (tid == 0) {
        u64 before = 0ull;
        shared_found = NO_INDEX;
        shared_above = 0ull;
        for (u32 t = 0; t < BLOCK; ++t) {
            if (before + shared_u64[t] > target) {
                shared_found = t;
                shared_above = before;
                break;
            }
            before += shared_u64[t];
        }
    }
    __syncthreads();
    if (shared_found == NO_INDEX) {
        if (tid == 0) write_status(status, STATUS_DRAW_FAILED, 0u, 0u, 0u);
        return;
    }
    if (tid == shared_found) {
        u64 before = shared_above;
        for (u32 i = start; i < end; ++i) {
            float e = det_exp(s[i] - max);
            if (e >= floor) {
                before += fixed_weight(e);
                if (before > target) {
                    tokens[row] = i;
                    logprobs[row] = log_prob(x[i], raw_max, raw_total);
                    processed_logprobs[row] = log_prob(s[i], max, kept_total);
                    write_status(status, STATUS_OK, 0u, 0u, 0u);
                    return;
                }
            }
        }
        write_status(status, STATUS_DRAW_FAILED, 0u, 0u, 0u);
    }
}
