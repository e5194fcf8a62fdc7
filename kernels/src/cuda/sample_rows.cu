// Row sampling kernel: one block per row. Compiled at run time by NVRTC with --fmad=false,
// --ftz=false and --prec-div=true, after a prelude that defines the DET_* constants exactly as
// the CPU backend uses them (kernels/src/detmath.rs). Every step mirrors kernels/src/row/: sums
// are exact u64 fixed-point integers and maxima/minima are order-free, so no result depends on
// thread order.
//
// Passes over a row of V logits: greedy rows without a history take two (maximum with its first
// index, then the raw normaliser). Other rows write the processed logits s and, once their
// maximum is known, the exponentials e = det_exp(s - max) to scratch; every later pass (radix
// selection for top-k and top-p, masked totals, the draw) reads e instead of recomputing it.

typedef unsigned int u32;
typedef unsigned long long u64;

#define BLOCK 1024
#define WARPS (BLOCK / 32)
#define SUB_HISTOGRAMS 8
#define PARAM_WORDS 16
#define STATUS_WORDS 4
#define OUT_WORDS 8
#define FULL_MASK 0xffffffffu
#define NEG_INF __int_as_float(0xff800000)
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

// Order-free combining operations for the warp and block reductions.
struct MaxOp {
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct MinOp {
    __device__ __forceinline__ u32 operator()(u32 a, u32 b) const { return min(a, b); }
};
struct SumOp {
    __device__ __forceinline__ u64 operator()(u64 a, u64 b) const { return a + b; }
};

// `op` over the lanes of a full warp; every lane gets the result.
template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T value, Op op) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        value = op(value, __shfl_xor_sync(FULL_MASK, value, offset));
    }
    return value;
}

// Inclusive prefix sum over the lanes of a full warp.
__device__ __forceinline__ u64 warp_inclusive_scan(u64 value, u32 lane) {
#pragma unroll
    for (u32 offset = 1; offset < 32; offset <<= 1) {
        u64 other = __shfl_up_sync(FULL_MASK, value, offset);
        if (lane >= offset) {
            value += other;
        }
    }
    return value;
}

// Calls f(i, values[i]) for this thread's share of values[0..n), in increasing i. Rows whose
// start is 16-byte aligned are read as float4 (four loads in flight per instruction); the
// assignment of indices to threads differs from the scalar loop, which no result depends on.
template <typename F>
__device__ __forceinline__ void for_each_value(const float* values, u32 n, F f) {
    if ((((u64)values) & 15ull) == 0ull) {
        const u32 quads = n / 4u;
        const float4* values4 = (const float4*)values;
#pragma unroll 2
        for (u32 q = threadIdx.x; q < quads; q += BLOCK) {
            float4 four = values4[q];
            u32 i = q * 4u;
            f(i, four.x);
            f(i + 1u, four.y);
            f(i + 2u, four.z);
            f(i + 3u, four.w);
        }
        for (u32 i = quads * 4u + threadIdx.x; i < n; i += BLOCK) {
            f(i, values[i]);
        }
    } else {
#pragma unroll 4
        for (u32 i = threadIdx.x; i < n; i += BLOCK) {
            f(i, values[i]);
        }
    }
}

// Appends `index` to `list` (warp-aggregated: one shared atomic per converged group of lanes).
__device__ __forceinline__ void append_index(u32* list, u32* count, u32 index) {
    const u32 active = __activemask();
    const u32 lane = threadIdx.x & 31u;
    const u32 leader = __ffs(active) - 1u;
    const u32 rank = __popc(active & ((1u << lane) - 1u));
    u32 base = 0u;
    if (lane == leader) {
        base = atomicAdd(count, (u32)__popc(active));
    }
    base = __shfl_sync(active, base, leader);
    list[base + rank] = index;
}

// Block reduction: warp shuffles, then warp 0 over the per-warp values in `shared` (WARPS + 1
// slots), `identity` filling the lanes past the last warp. Every thread gets the result; the
// trailing barrier frees `shared` for the next call.
template <typename T, typename Op>
__device__ T block_reduce(T value, T identity, T* shared, Op op) {
    value = warp_reduce(value, op);
    if ((threadIdx.x & 31u) == 0u) shared[threadIdx.x >> 5] = value;
    __syncthreads();
    if (threadIdx.x < 32u) {
        T warp_value = threadIdx.x < WARPS ? shared[threadIdx.x] : identity;
        warp_value = warp_reduce(warp_value, op);
        if (threadIdx.x == 0u) shared[WARPS] = warp_value;
    }
    __syncthreads();
    T result = shared[WARPS];
    __syncthreads();
    return result;
}

__device__ float block_max(float value, float* shared) {
    return block_reduce(value, NEG_INF, shared, MaxOp());
}

__device__ u64 block_sum(u64 value, u64* shared) {
    return block_reduce(value, 0ull, shared, SumOp());
}

__device__ u32 block_min(u32 value, u32* shared) {
    return block_reduce(value, NO_INDEX, shared, MinOp());
}

// Sum of fixed-point weights of the exponentials e >= floor.
__device__ u64 masked_total(const float* exponentials, u32 vocab, float floor, u64* shared) {
    u64 local = 0ull;
    for_each_value(exponentials, vocab, [&](u32, float e) {
        if (e >= floor) {
            local += fixed_weight(e);
        }
    });
    return block_sum(local, shared);
}

// Warp 0 finds, in `values[0..count)` (count = 32 × per_lane, scanned in the order
// index(lane, j) = order(lane * per_lane + j)), the first position whose inclusive running sum
// reaches `need` (> need when `strict`). Writes the position (or -1) and the sum before it.
__device__ void warp_find_crossing(const u64* values, u32 per_lane, bool descending, u64 need,
                                   bool strict, int* found, u64* before) {
    const u32 lane = threadIdx.x & 31u;
    const u32 count = 32u * per_lane;
    u64 group = 0ull;
    for (u32 j = 0; j < per_lane; ++j) {
        u32 position = lane * per_lane + j;
        group += values[descending ? count - 1u - position : position];
    }
    u64 through = warp_inclusive_scan(group, lane);
    bool crosses = strict ? through > need : through >= need;
    u32 ballot = __ballot_sync(FULL_MASK, crosses);
    if (ballot == 0u) {
        if (lane == 0u) {
            *found = -1;
            *before = 0ull;
        }
        return;
    }
    u32 first_lane = __ffs(ballot) - 1u;
    if (lane == first_lane) {
        u64 running = through - group;
        for (u32 j = 0; j < per_lane; ++j) {
            u32 position = lane * per_lane + j;
            u32 index = descending ? count - 1u - position : position;
            u64 next = running + values[index];
            if (strict ? next > need : next >= need) {
                *found = (int)index;
                *before = running;
                return;
            }
            running = next;
        }
    }
}

// Largest exponential t with measure({e >= t, e >= floor}) >= target (radix, 8 bits per level,
// SUB_HISTOGRAMS copies of the histogram to spread the atomics). Levels 0 and 1 read the whole
// row; level 1 also lists the indices that match the level-0 digit in `candidates`, and levels 2
// and 3 read only those. Returns false when the measure never reaches target.
__device__ bool radix_threshold(const float* exponentials, u32 vocab, float floor, u64 target,
                                bool by_mass, u64* histogram, int* shared_digit,
                                u64* shared_above, u32* candidates, u32* candidate_count,
                                float* result) {
    const u32 copy = ((threadIdx.x >> 5) % SUB_HISTOGRAMS) * 256u;
    u32 prefix = 0u;
    u32 prefix_mask = 0u;
    u64 remaining = target;
    for (int level = 0; level < 4; ++level) {
        const int shift = 24 - 8 * level;
        for (u32 i = threadIdx.x; i < 256u * SUB_HISTOGRAMS; i += BLOCK) {
            histogram[i] = 0ull;
        }
        if (threadIdx.x == 0u && level == 1) {
            *candidate_count = 0u;
        }
        __syncthreads();
        auto count_value = [&](float e) {
            atomicAdd(&histogram[copy + ((__float_as_uint(e) >> shift) & 255u)],
                      by_mass ? fixed_weight(e) : 1ull);
        };
        if (level == 0) {
            for_each_value(exponentials, vocab, [&](u32, float e) {
                if (e >= floor) {
                    count_value(e);
                }
            });
        } else if (level == 1) {
            for_each_value(exponentials, vocab, [&](u32 i, float e) {
                if (e >= floor && (__float_as_uint(e) & prefix_mask) == prefix) {
                    count_value(e);
                    append_index(candidates, candidate_count, i);
                }
            });
        } else {
            const u32 listed = *candidate_count;
            for (u32 c = threadIdx.x; c < listed; c += BLOCK) {
                float e = exponentials[candidates[c]];
                if ((__float_as_uint(e) & prefix_mask) == prefix) {
                    count_value(e);
                }
            }
        }
        __syncthreads();
        if (threadIdx.x < 256u) {
            u64 merged = 0ull;
            for (u32 c = 0; c < SUB_HISTOGRAMS; ++c) {
                merged += histogram[c * 256u + threadIdx.x];
            }
            histogram[threadIdx.x] = merged;
        }
        __syncthreads();
        // The first digit, from 255 down, whose running measure reaches what remains; its bin
        // is then non-empty because what remains is at least 1.
        if (threadIdx.x < 32u) {
            warp_find_crossing(histogram, 8u, true, remaining, false, shared_digit, shared_above);
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
__device__ void write_status(u32* out, u32 code, u32 index, u32 logit_bits, u32 value_bits) {
    out[0] = code;
    out[1] = index;
    out[2] = logit_bits;
    out[3] = value_bits;
}

// A success: status OK, then token, log-probability bits and processed log-probability bits.
__device__ void write_token(u32* out, u32 token, float logprob, float processed) {
    write_status(out, STATUS_OK, 0u, 0u, 0u);
    out[4] = token;
    out[5] = __float_as_uint(logprob);
    out[6] = __float_as_uint(processed);
}

extern "C" __global__ void __launch_bounds__(BLOCK) sample_rows(
    const float* __restrict__ logits, u32 vocab, const u32* __restrict__ packed,
    u32 history_tokens_at, u32 history_counts_at, float* __restrict__ scratch,
    u32* __restrict__ out_words) {
    __shared__ float shared_float[WARPS + 1];
    __shared__ u64 shared_u64[WARPS + 1];
    __shared__ u32 shared_u32[WARPS + 1];
    __shared__ u64 histogram[256 * SUB_HISTOGRAMS];
    __shared__ int shared_digit;
    __shared__ u64 shared_above;
    __shared__ u32 candidate_count;

    const u32 row = blockIdx.x;
    const u32 tid = threadIdx.x;
    const float* x = logits + (u64)row * vocab;
    float* s = scratch + (u64)row * vocab * 3ull;
    float* ex = s + vocab;
    u32* candidates = (u32*)(ex + vocab);
    const u32* p = packed + (u64)row * PARAM_WORDS;
    const u32* history_tokens = packed + history_tokens_at;
    const u32* history_counts = packed + history_counts_at;
    u32* out = out_words + (u64)row * OUT_WORDS;

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

    // 1. Checks, the raw maximum and the first index holding it.
    float local_max = NEG_INF;
    u32 local_first = NO_INDEX;
    u32 local_bad = NO_INDEX;
    for_each_value(x, vocab, [&](u32 i, float value) {
        if (!(value < __int_as_float(0x7f800000))) {
            local_bad = min(local_bad, i);
        }
        if (value > local_max) {
            local_max = value;
            local_first = i;
        }
    });
    u32 bad = block_min(local_bad, shared_u32);
    if (bad != NO_INDEX) {
        if (tid == 0) write_status(out, STATUS_NON_FINITE, bad, __float_as_uint(x[bad]), 0u);
        return;
    }
    const float raw_max = block_max(local_max, shared_float);
    if (raw_max == NEG_INF) {
        if (tid == 0) write_status(out, STATUS_NO_FINITE, 0u, 0u, 0u);
        return;
    }

    // Greedy without penalties: the processed logits are the raw ones.
    if (greedy && history_length == 0u) {
        u32 first = block_min(local_max == raw_max ? local_first : NO_INDEX, shared_u32);
        u64 local_total = 0ull;
        for_each_value(x, vocab, [&](u32, float logit) {
            local_total += fixed_weight(det_exp(logit - raw_max));
        });
        const u64 raw_total = block_sum(local_total, shared_u64);
        if (tid == 0) write_token(out, first, log_prob(x[first], raw_max, raw_total), 0.0f);
        return;
    }

    // 2. The raw normaliser and the processed logits (temperature), with their maximum.
    u64 local_total = 0ull;
    u32 local_overflow = NO_INDEX;
    float local_processed_max = NEG_INF;
    for_each_value(x, vocab, [&](u32 i, float logit) {
        local_total += fixed_weight(det_exp(logit - raw_max));
        float value = greedy ? logit : logit / temperature;
        if (is_finite(logit) && !is_finite(value)) {
            local_overflow = min(local_overflow, i);
        }
        s[i] = value;
        local_processed_max = fmaxf(local_processed_max, value);
    });
    const u64 raw_total = block_sum(local_total, shared_u64);
    u32 overflow = block_min(local_overflow, shared_u32);
    if (overflow != NO_INDEX) {
        if (tid == 0) write_status(out, STATUS_SCALED_OVERFLOW, overflow, __float_as_uint(x[overflow]), 0u);
        return;
    }
    float max = block_max(local_processed_max, shared_float);

    // 3. Penalties for the history tokens; then the maximum again.
    if (history_length > 0u) {
        u32 local_penalty_error = NO_INDEX;
        for (u32 h = tid; h < history_length; h += BLOCK) {
            u32 token = history_tokens[history_offset + h];
            float logit = x[token];
            float penalised = penalised_logit(logit, history_counts[history_offset + h],
                                              repetition, frequency, presence);
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
                        write_status(out, STATUS_PENALISED_OVERFLOW, penalty_error, __float_as_uint(logit), __float_as_uint(penalised));
                    } else {
                        write_status(out, STATUS_SCALED_OVERFLOW, penalty_error, __float_as_uint(penalised), 0u);
                    }
                }
            }
            return;
        }
        local_max = NEG_INF;
        for_each_value(s, vocab, [&](u32, float value) { local_max = fmaxf(local_max, value); });
        max = block_max(local_max, shared_float);
    }
    if (max == NEG_INF) {
        if (tid == 0) write_status(out, STATUS_NO_FINITE, 0u, 0u, 0u);
        return;
    }
    if (greedy) {
        u32 local_first_processed = NO_INDEX;
        for_each_value(s, vocab, [&](u32 i, float value) {
            if (value == max) {
                local_first_processed = min(local_first_processed, i);
            }
        });
        u32 first = block_min(local_first_processed, shared_u32);
        if (tid == 0) write_token(out, first, log_prob(x[first], raw_max, raw_total), 0.0f);
        return;
    }

    // 4. Exponentials to scratch, with the total mass and the mass at or above min-p.
    const float min_p_floor = min_p > 0.0f ? min_p : 0.0f;
    u64 local_all = 0ull;
    u64 local_min_p = 0ull;
    for_each_value(s, vocab, [&](u32 i, float value) {
        float e = det_exp(value - max);
        ex[i] = e;
        u64 weight = fixed_weight(e);
        local_all += weight;
        if (e >= min_p_floor) {
            local_min_p += weight;
        }
    });
    const u64 all_total = block_sum(local_all, shared_u64);
    const u64 min_p_total = block_sum(local_min_p, shared_u64);

    // 5. Filters: min-p, top-k, then top-p on what is left.
    float floor = min_p_floor;
    float cut = 0.0f;
    if (top_k > 0u && top_k < vocab) {
        if (radix_threshold(ex, vocab, 0.0f, (u64)top_k, false, histogram, &shared_digit,
                            &shared_above, candidates, &candidate_count, &cut)) {
            floor = fmaxf(floor, cut);
        }
    }
    if (top_p_fixed < (1ull << 32)) {
        u64 filtered = floor == 0.0f          ? all_total
                       : floor == min_p_floor ? min_p_total
                                              : masked_total(ex, vocab, floor, shared_u64);
        u64 high = __umul64hi(filtered, top_p_fixed);
        u64 low = filtered * top_p_fixed;
        u64 target = (high << 32) | (low >> 32);
        if (target < 1ull) {
            target = 1ull;
        }
        if (radix_threshold(ex, vocab, floor, target, true, histogram, &shared_digit,
                            &shared_above, candidates, &candidate_count, &cut)) {
            floor = fmaxf(floor, cut);
        }
    }
    const u64 kept_total = floor == 0.0f          ? all_total
                           : floor == min_p_floor ? min_p_total
                                                  : masked_total(ex, vocab, floor, shared_u64);

    // 6. Integer draw over contiguous per-thread chunks (token order, as on the CPU).
    u32 counter[4] = {p[12], p[13], p[10], p[11]};
    philox(counter, p[8], p[9]);
    const u64 word = ((u64)counter[0] << 32) | (u64)counter[1];
    const u64 target = __umul64hi(word, kept_total);
    const u32 chunk = (vocab + BLOCK - 1) / BLOCK;
    const u32 start = min(vocab, tid * chunk);
    const u32 end = min(vocab, start + chunk);
    u64 chunk_mass = 0ull;
    for (u32 i = start; i < end; ++i) {
        float e = ex[i];
        if (e >= floor) {
            chunk_mass += fixed_weight(e);
        }
    }
    u64* chunk_masses = histogram;
    chunk_masses[tid] = chunk_mass;
    __syncthreads();
    if (tid < 32u) {
        warp_find_crossing(chunk_masses, BLOCK / 32u, false, target, true, &shared_digit,
                           &shared_above);
    }
    __syncthreads();
    const int found = shared_digit;
    if (found < 0) {
        if (tid == 0) write_status(out, STATUS_DRAW_FAILED, 0u, 0u, 0u);
        return;
    }
    if (tid == (u32)found) {
        u64 before = shared_above;
        for (u32 i = start; i < end; ++i) {
            float e = ex[i];
            if (e >= floor) {
                before += fixed_weight(e);
                if (before > target) {
                    write_token(out, i, log_prob(x[i], raw_max, raw_total),
                                log_prob(s[i], max, kept_total));
                    return;
                }
            }
        }
        write_status(out, STATUS_DRAW_FAILED, 0u, 0u, 0u);
    }
}
