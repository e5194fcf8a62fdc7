//! Packing selected lanes forward: the lane-order table and the candidate writer of the AVX2
//! weights pass.

use std::arch::x86_64::*;

use super::WIDTH;
use crate::simd::Candidates;

/// For each 8-bit lane mask, the selected lane numbers in increasing order (then zeros).
pub(super) const PACK_ORDER: [[u8; WIDTH]; 256] = pack_order();

/// Builds [`PACK_ORDER`].
const fn pack_order() -> [[u8; WIDTH]; 256] {
    let mut table = [[0u8; WIDTH]; 256];
    let mut mask = 0;
    while mask < 256 {
        let mut lane = 0;
        let mut next = 0;
        while lane < WIDTH {
            if mask & (1 << lane) != 0 {
                table[mask][next] = lane as u8;
                next += 1;
            }
            lane += 1;
        }
        mask += 1;
    }
    table
}

/// Writes packed lanes into candidate slots reserved beforehand; [`Candidates::commit`] then
/// counts them.
pub(super) struct Packer<'a> {
    /// Free index slots.
    indices: &'a mut [u32],
    /// Free value slots.
    values: &'a mut [f32],
    /// Pairs written so far.
    pub(super) written: usize,
}

impl<'a> Packer<'a> {
    /// A packer over the free slots of `candidates`.
    pub(super) fn new(candidates: &'a mut Candidates) -> Self {
        let (indices, values) = candidates.spare();
        Self {
            indices,
            values,
            written: 0,
        }
    }

    /// Writes the lanes selected by `mask`, with token indices `first + lane`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn pack(&mut self, exponentials: __m256, mask: u32, first: u32) {
        let order = _mm256_cvtepu8_epi32(_mm_loadl_epi64(
            PACK_ORDER[mask as usize & 0xff].as_ptr().cast(),
        ));
        let indices = _mm256_add_epi32(
            _mm256_set1_epi32(first as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        );
        let at = self.written;
        _mm256_storeu_si256(
            self.indices[at..at + WIDTH].as_mut_ptr().cast(),
            _mm256_permutevar8x32_epi32(indices, order),
        );
        _mm256_storeu_ps(
            self.values[at..at + WIDTH].as_mut_ptr(),
            _mm256_permutevar8x32_ps(exponentials, order),
        );
        self.written += mask.count_ones() as usize;
    }
}
