//! x86-64 quantised kernels: int8 on AVX2, AVX-512BW and AVX-512 VNNI; bf16 on AVX2 (widen +
//! FMA) and AVX-512 BF16.
//!
//! The public functions are safe wrappers around `#[target_feature]` code, reachable only via
//! `QuantKernel::int8` / `QuantKernel::bf16`, which check the CPU first: that check is the
//! safety argument for every `unsafe` call below. Pointer offsets are bounded by `check_*`.
//!
//! Rows are scored four at a time so every query vector loaded feeds four multiply-adds and
//! four independent accumulator chains hide the instruction latency.

use std::arch::x86_64::*;

use super::kernels::{check_bf16, check_int8, Bf16Query, Int8Query};

/// Rows per register block.
const ROWS: usize = 4;
/// How far ahead (bytes) the scan asks for rows: a single query streams the codes from memory,
/// and explicit prefetches keep more cache-line requests in flight than the hardware
/// prefetcher alone (measured in docs/quantized.md).
const PREFETCH_BYTES: usize = 4096;

/// Prefetch the cache line `offset` bytes past `p` (a hint: never faults, so the address may lie
/// past the end of the rows, hence the wrapping arithmetic).
#[inline(always)]
unsafe fn prefetch<T>(p: *const T, offset: usize) {
    _mm_prefetch::<_MM_HINT_T0>((p as *const i8).wrapping_add(offset));
}

// ------------------------------------------------------------------------------------------
// int8
// ------------------------------------------------------------------------------------------

/// int8 dots with AVX-512 VNNI: `vpdpbusd` multiplies unsigned by signed bytes, so the query is
/// offset by +128 into `1..=255` and `128 * rowsum` is subtracted afterwards:
/// `sum (q + 128) * c - 128 * sum c = sum q * c`, exactly.
pub fn int8_dots_vnni(q: &Int8Query, rows: &[i8], rowsums: &[i32], d: usize, out: &mut [i32]) {
    let nr = check_int8(q, rows, rowsums, d, out);
    // SAFETY: reachable only after the avx512f/bw/vnni check; lengths checked above.
    unsafe { vnni(q.offset.as_ptr(), rows.as_ptr(), rowsums.as_ptr(), nr, d, out.as_mut_ptr()) }
}

#[inline]
fn mask64(remaining: usize) -> __mmask64 {
    debug_assert!(remaining > 0 && remaining < 64);
    (1u64 << remaining) - 1
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni(q: *const u8, r: *const i8, sums: *const i32, nr: usize, d: usize, out: *mut i32) {
    let full = d / 64 * 64;
    let tail = d - full;
    let mut j = 0;
    while j < nr {
        let block = ROWS.min(nr - j);
        let base = r.add(j * d);
        let mut acc = [_mm512_setzero_si512(); ROWS];
        let mut p = 0;
        if block == ROWS {
            while p < full {
                let qv = _mm512_loadu_si512(q.add(p) as *const _);
                for (t, a) in acc.iter_mut().enumerate() {
                    prefetch(base.add(t * d + p), PREFETCH_BYTES);
                    *a = _mm512_dpbusd_epi32(*a, qv, _mm512_loadu_si512(base.add(t * d + p) as *const _));
                }
                p += 64;
            }
        } else {
            while p < full {
                let qv = _mm512_loadu_si512(q.add(p) as *const _);
                for (t, a) in acc.iter_mut().enumerate().take(block) {
                    *a = _mm512_dpbusd_epi32(*a, qv, _mm512_loadu_si512(base.add(t * d + p) as *const _));
                }
                p += 64;
            }
        }
        if tail > 0 {
            // Masked-off lanes load as zero on both sides and add nothing.
            let m = mask64(tail);
            let qv = _mm512_maskz_loadu_epi8(m, q.add(p) as *const i8);
            for (t, a) in acc.iter_mut().enumerate().take(block) {
                *a = _mm512_dpbusd_epi32(*a, qv, _mm512_maskz_loadu_epi8(m, base.add(t * d + p)));
            }
        }
        for (t, a) in acc.iter().enumerate().take(block) {
            *out.add(j + t) = _mm512_reduce_add_epi32(*a) - 128 * *sums.add(j + t);
        }
        j += block;
    }
}

/// int8 dots with AVX-512BW: `vpmaddubsw(|q|, sign(q) * c)` gives pairwise 16-bit sums that
/// cannot saturate (|2 * 127 * 127| < 32767), then `vpmaddwd` with ones widens them to 32 bits.
pub fn int8_dots_avx512bw(q: &Int8Query, rows: &[i8], rowsums: &[i32], d: usize, out: &mut [i32]) {
    let nr = check_int8(q, rows, rowsums, d, out);
    // SAFETY: reachable only after the avx512f/bw check; lengths checked above.
    unsafe { bw512(q.codes.as_ptr(), rows.as_ptr(), nr, d, out.as_mut_ptr()) }
}

#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn bw512(q: *const i8, r: *const i8, nr: usize, d: usize, out: *mut i32) {
    let full = d / 64 * 64;
    let tail = d - full;
    let ones = _mm512_set1_epi16(1);
    let zero = _mm512_setzero_si512();
    let mut j = 0;
    while j < nr {
        let block = ROWS.min(nr - j);
        let base = r.add(j * d);
        let mut acc = [_mm512_setzero_si512(); ROWS];
        let mut p = 0;
        while p < d {
            let m: __mmask64 = if p < full { !0 } else { mask64(tail) };
            let qv = _mm512_maskz_loadu_epi8(m, q.add(p));
            let qabs = _mm512_abs_epi8(qv);
            let negative = _mm512_movepi8_mask(qv);
            for (t, a) in acc.iter_mut().enumerate().take(block) {
                let c = _mm512_maskz_loadu_epi8(m, base.add(t * d + p));
                let signed = _mm512_mask_sub_epi8(c, negative, zero, c);
                let pairs = _mm512_maddubs_epi16(qabs, signed);
                *a = _mm512_add_epi32(*a, _mm512_madd_epi16(pairs, ones));
            }
            p += 64;
        }
        for (t, a) in acc.iter().enumerate().take(block) {
            *out.add(j + t) = _mm512_reduce_add_epi32(*a);
        }
        j += block;
    }
}

/// int8 dots with AVX2: `vpmaddubsw(|q|, vpsignb(c, q))` + `vpmaddwd` (as AVX-512BW); the
/// last `d % 32` columns are summed in scalar code.
pub fn int8_dots_avx2(q: &Int8Query, rows: &[i8], rowsums: &[i32], d: usize, out: &mut [i32]) {
    let nr = check_int8(q, rows, rowsums, d, out);
    // SAFETY: reachable only after the avx2 check; lengths checked above.
    unsafe { avx2_int8(q.codes.as_ptr(), rows.as_ptr(), nr, d, out.as_mut_ptr()) }
}

#[target_feature(enable = "avx2")]
unsafe fn hsum_epi32_256(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}

#[target_feature(enable = "avx2")]
unsafe fn avx2_int8(q: *const i8, r: *const i8, nr: usize, d: usize, out: *mut i32) {
    let full = d / 32 * 32;
    let ones = _mm256_set1_epi16(1);
    let mut j = 0;
    while j < nr {
        let block = ROWS.min(nr - j);
        let base = r.add(j * d);
        let mut acc = [_mm256_setzero_si256(); ROWS];
        let mut p = 0;
        while p < full {
            let qv = _mm256_loadu_si256(q.add(p) as *const __m256i);
            let qabs = _mm256_abs_epi8(qv);
            for (t, a) in acc.iter_mut().enumerate().take(block) {
                let c = _mm256_loadu_si256(base.add(t * d + p) as *const __m256i);
                let pairs = _mm256_maddubs_epi16(qabs, _mm256_sign_epi8(c, qv));
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(pairs, ones));
            }
            p += 32;
        }
        for (t, a) in acc.iter().enumerate().take(block) {
            let mut sum = hsum_epi32_256(*a);
            for col in full..d {
                sum += *q.add(col) as i32 * *base.add(t * d + col) as i32;
            }
            *out.add(j + t) = sum;
        }
        j += block;
    }
}

// ------------------------------------------------------------------------------------------
// bf16
// ------------------------------------------------------------------------------------------

/// bf16 dots with AVX-512 BF16 (`vdpbf16ps`: 32 bf16 pairs per instruction, f32 accumulators).
pub fn bf16_dots_avx512bf16(q: &Bf16Query, rows: &[u16], d: usize, out: &mut [f32]) {
    let nr = check_bf16(q, rows, d, out);
    // SAFETY: reachable only after the avx512f/bw/bf16 check; lengths checked above.
    unsafe { dpbf16(q.bits.as_ptr(), rows.as_ptr(), nr, d, out.as_mut_ptr()) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn dpbf16(q: *const u16, r: *const u16, nr: usize, d: usize, out: *mut f32) {
    let full = d / 32 * 32;
    let tail = d - full;
    let mut j = 0;
    while j < nr {
        let block = ROWS.min(nr - j);
        let base = r.add(j * d);
        let mut acc = [_mm512_setzero_ps(); ROWS];
        let mut p = 0;
        if block == ROWS {
            // Unmasked body of a full register block (the hot loop).
            while p < full {
                let qv: __m512bh = std::mem::transmute(_mm512_loadu_si512(q.add(p) as *const _));
                for (t, a) in acc.iter_mut().enumerate() {
                    prefetch(base.add(t * d + p), PREFETCH_BYTES);
                    let c: __m512bh = std::mem::transmute(_mm512_loadu_si512(base.add(t * d + p) as *const _));
                    *a = _mm512_dpbf16_ps(*a, qv, c);
                }
                p += 32;
            }
        }
        while p < d {
            let m: __mmask32 = if p < full { !0 } else { ((1u64 << tail) - 1) as __mmask32 };
            let qv: __m512bh = std::mem::transmute(_mm512_maskz_loadu_epi16(m, q.add(p) as *const i16));
            for (t, a) in acc.iter_mut().enumerate().take(block) {
                let c: __m512bh = std::mem::transmute(_mm512_maskz_loadu_epi16(m, base.add(t * d + p) as *const i16));
                *a = _mm512_dpbf16_ps(*a, qv, c);
            }
            p += 32;
        }
        for (t, a) in acc.iter().enumerate().take(block) {
            *out.add(j + t) = _mm512_reduce_add_ps(*a);
        }
        j += block;
    }
}

/// bf16 dots with AVX2+FMA: rows widened to f32 (a 16-bit shift) and multiplied by the
/// bf16-rounded query in f32.
pub fn bf16_dots_avx2(q: &Bf16Query, rows: &[u16], d: usize, out: &mut [f32]) {
    let nr = check_bf16(q, rows, d, out);
    // SAFETY: reachable only after the avx2/fma check; lengths checked above.
    unsafe { avx2_bf16(q.widened.as_ptr(), rows.as_ptr(), nr, d, out.as_mut_ptr()) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn widen8(p: *const u16) -> __m256 {
    let halves = _mm_loadu_si128(p as *const __m128i);
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(halves), 16))
}

#[target_feature(enable = "avx2,fma")]
unsafe fn hsum_ps_256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0b01));
    _mm_cvtss_f32(s)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn avx2_bf16(q: *const f32, r: *const u16, nr: usize, d: usize, out: *mut f32) {
    let full = d / 8 * 8;
    let mut j = 0;
    while j < nr {
        let block = ROWS.min(nr - j);
        let base = r.add(j * d);
        let mut acc = [_mm256_setzero_ps(); ROWS];
        let mut p = 0;
        while p < full {
            let qv = _mm256_loadu_ps(q.add(p));
            for (t, a) in acc.iter_mut().enumerate().take(block) {
                *a = _mm256_fmadd_ps(qv, widen8(base.add(t * d + p)), *a);
            }
            p += 8;
        }
        for (t, a) in acc.iter().enumerate().take(block) {
            let mut sum = hsum_ps_256(*a);
            for col in full..d {
                sum += *q.add(col) * f32::from_bits((*base.add(t * d + col) as u32) << 16);
            }
            *out.add(j + t) = sum;
        }
        j += block;
    }
}
