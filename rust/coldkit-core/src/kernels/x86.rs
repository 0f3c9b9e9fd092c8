//! AVX2+FMA and AVX-512F kernels.
//!
//! The public functions are safe wrappers around `#[target_feature]` code. They are only ever
//! reached through `kernels::kernel_impl`, which checks the CPU first; that check is the safety
//! argument for every `unsafe` call below.
//!
//! Batched scores use a register-blocked micro-kernel: MQ query rows x NR catalogue rows of
//! accumulators, so each vector loaded from memory feeds several FMAs (4x4 on AVX-512 with 32
//! registers, 2x4 on AVX2 with 16).

use std::arch::x86_64::*;

fn check_tile(queries: &[f32], rows: &[f32], d: usize, out: &[f32]) -> (usize, usize) {
    assert!(d > 0 && queries.len() % d == 0 && rows.len() % d == 0, "tile: lengths must be multiples of d");
    let (nq, nr) = (queries.len() / d, rows.len() / d);
    assert!(out.len() >= nq * nr, "tile: output too small");
    (nq, nr)
}

// ------------------------------------------------------------------------------------------
// AVX-512F
// ------------------------------------------------------------------------------------------

/// Inner product (AVX-512F).
pub fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: reachable only via kernel_impl(Avx512), which checked avx512f; bounds from len.
    unsafe { dot512(a.as_ptr(), b.as_ptr(), a.len()) }
}

/// Block of inner products (AVX-512F).
pub fn tile_avx512(queries: &[f32], rows: &[f32], d: usize, out: &mut [f32]) {
    let (nq, nr) = check_tile(queries, rows, d, out);
    // SAFETY: as above; check_tile bounded every pointer offset used inside.
    unsafe { tile512(queries.as_ptr(), nq, rows.as_ptr(), nr, d, out.as_mut_ptr()) }
}

#[target_feature(enable = "avx512f")]
unsafe fn dot512(a: *const f32, b: *const f32, n: usize) -> f32 {
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut p = 0;
    while p + 64 <= n {
        for (lane, slot) in acc.iter_mut().enumerate() {
            let off = p + lane * 16;
            *slot = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(off)), _mm512_loadu_ps(b.add(off)), *slot);
        }
        p += 64;
    }
    while p + 16 <= n {
        acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(a.add(p)), _mm512_loadu_ps(b.add(p)), acc[0]);
        p += 16;
    }
    if p < n {
        let mask = tail_mask(n - p);
        acc[1] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a.add(p)), _mm512_maskz_loadu_ps(mask, b.add(p)), acc[1]);
    }
    let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(sum)
}

#[inline]
fn tail_mask(remaining: usize) -> __mmask16 {
    debug_assert!(remaining > 0 && remaining < 16);
    ((1u32 << remaining) - 1) as __mmask16
}

#[target_feature(enable = "avx512f")]
unsafe fn tile512(q: *const f32, nq: usize, r: *const f32, nr: usize, d: usize, out: *mut f32) {
    let mut i = 0;
    while i + 4 <= nq {
        let mut j = 0;
        while j + 4 <= nr {
            micro512::<4, 4>(q.add(i * d), r.add(j * d), d, out.add(i * nr + j), nr);
            j += 4;
        }
        while j < nr {
            micro512::<4, 1>(q.add(i * d), r.add(j * d), d, out.add(i * nr + j), nr);
            j += 1;
        }
        i += 4;
    }
    while i < nq {
        // A lone query streams catalogue rows: 8 rows in flight keep enough loads outstanding.
        let mut j = 0;
        while j + 8 <= nr {
            micro512::<1, 8>(q.add(i * d), r.add(j * d), d, out.add(i * nr + j), nr);
            j += 8;
        }
        while j < nr {
            micro512::<1, 1>(q.add(i * d), r.add(j * d), d, out.add(i * nr + j), nr);
            j += 1;
        }
        i += 1;
    }
}

/// MQ x NR inner products; `out[i * ldo + j]`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn micro512<const MQ: usize, const NR: usize>(q: *const f32, r: *const f32, d: usize, out: *mut f32, ldo: usize) {
    let mut acc = [[_mm512_setzero_ps(); NR]; MQ];
    let mut p = 0;
    while p + 16 <= d {
        let mut rv = [_mm512_setzero_ps(); NR];
        for (j, v) in rv.iter_mut().enumerate() {
            *v = _mm512_loadu_ps(r.add(j * d + p));
        }
        for (i, acc_i) in acc.iter_mut().enumerate() {
            let qv = _mm512_loadu_ps(q.add(i * d + p));
            for (a, v) in acc_i.iter_mut().zip(rv.iter()) {
                *a = _mm512_fmadd_ps(qv, *v, *a);
            }
        }
        p += 16;
    }
    if p < d {
        let mask = tail_mask(d - p);
        let mut rv = [_mm512_setzero_ps(); NR];
        for (j, v) in rv.iter_mut().enumerate() {
            *v = _mm512_maskz_loadu_ps(mask, r.add(j * d + p));
        }
        for (i, acc_i) in acc.iter_mut().enumerate() {
            let qv = _mm512_maskz_loadu_ps(mask, q.add(i * d + p));
            for (a, v) in acc_i.iter_mut().zip(rv.iter()) {
                *a = _mm512_fmadd_ps(qv, *v, *a);
            }
        }
    }
    if NR == 4 {
        for (i, acc_i) in acc.iter().enumerate() {
            let sums = reduce4_512(acc_i[0], acc_i[1], acc_i[2], acc_i[NR - 1]);
            _mm_storeu_ps(out.add(i * ldo), sums);
        }
    } else {
        for (i, acc_i) in acc.iter().enumerate() {
            for (j, a) in acc_i.iter().enumerate() {
                *out.add(i * ldo + j) = _mm512_reduce_add_ps(*a);
            }
        }
    }
}

/// The four horizontal sums of a, b, c, e as one 128-bit vector, with a shuffle tree that
/// shares work between the four (about 3x fewer shuffles than four separate reductions).
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn reduce4_512(a: __m512, b: __m512, c: __m512, e: __m512) -> __m128 {
    // Per 128-bit lane: ab = [a0+a2, b0+b2, a1+a3, b1+b3], ce likewise.
    let ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    let ce = _mm512_add_ps(_mm512_unpacklo_ps(c, e), _mm512_unpackhi_ps(c, e));
    // Per lane: [a, b, c, e] partial sums.
    let abd = _mm512_castps_pd(ab);
    let ced = _mm512_castps_pd(ce);
    let lo = _mm512_castpd_ps(_mm512_unpacklo_pd(abd, ced));
    let hi = _mm512_castpd_ps(_mm512_unpackhi_pd(abd, ced));
    let s = _mm512_add_ps(lo, hi);
    // Sum the four 128-bit lanes.
    let s256 = _mm256_add_ps(_mm512_castps512_ps256(s), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));
    _mm_add_ps(_mm256_castps256_ps128(s256), _mm256_extractf128_ps(s256, 1))
}

// ------------------------------------------------------------------------------------------
// AVX2 + FMA
// ------------------------------------------------------------------------------------------

/// Inner product (AVX2+FMA).
pub fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: reachable only via kernel_impl(Avx2), which checked avx2 and fma.
    unsafe { dot256(a.as_ptr(), b.as_ptr(), a.len()) }
}

/// Block of inner products (AVX2+FMA).
pub fn tile_avx2(queries: &[f32], rows: &[f32], d: usize, out: &mut [f32]) {
    let (nq, nr) = check_tile(queries, rows, d, out);
    // SAFETY: as above; check_tile bounded every pointer offset used inside.
    unsafe { tile256(queries.as_ptr(), nq, rows.as_ptr(), nr, d, out.as_mut_ptr()) }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn hsum256(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 0b01)))
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dot256(a: *const f32, b: *const f32, n: usize) -> f32 {
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut p = 0;
    while p + 32 <= n {
        for (lane, slot) in acc.iter_mut().enumerate() {
            let off = p + lane * 8;
            *slot = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(off)), _mm256_loadu_ps(b.add(off)), *slot);
        }
        p += 32;
    }
    while p + 8 <= n {
        acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(a.add(p)), _mm256_loadu_ps(b.add(p)), acc[0]);
        p += 8;
    }
    let mut tail = 0.0f32;
    while p < n {
        tail += *a.add(p) * *b.add(p);
        p += 1;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum256(sum) + tail
}

#[target_feature(enable = "avx2,fma")]
unsafe fn tile256(q: *const f32, nq: usize, r: *const f32, nr: usize, d: usize, out: *mut f32) {
    let mut i = 0;
    while i + 2 <= nq {
        let mut j = 0;
        while j + 4 <= nr {
            micro256::<2, 4>(q.add(i * d), r.add(j * d), d, out.add(i * nr + j), nr);
            j += 4;
        }
        while j < nr {
            micro256::<2, 1>(q.add(i * d), r.add(j * d), d, out.add(i * nr + j), nr);
            j += 1;
        }
        i += 2;
    }
    while i < nq {
        let mut j = 0;
        while j + 4 <= nr {
            micro256::<1, 4>(q.add(i * d), r.add(j * d), d, out.add(i * nr + j), nr);
            j += 4;
        }
        while j < nr {
            micro256::<1, 1>(q.add(i * d), r.add(j * d), d, out.add(i * nr + j), nr);
            j += 1;
        }
        i += 1;
    }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn micro256<const MQ: usize, const NR: usize>(q: *const f32, r: *const f32, d: usize, out: *mut f32, ldo: usize) {
    let mut acc = [[_mm256_setzero_ps(); NR]; MQ];
    let mut p = 0;
    while p + 8 <= d {
        let mut rv = [_mm256_setzero_ps(); NR];
        for (j, v) in rv.iter_mut().enumerate() {
            *v = _mm256_loadu_ps(r.add(j * d + p));
        }
        for (i, acc_i) in acc.iter_mut().enumerate() {
            let qv = _mm256_loadu_ps(q.add(i * d + p));
            for (a, v) in acc_i.iter_mut().zip(rv.iter()) {
                *a = _mm256_fmadd_ps(qv, *v, *a);
            }
        }
        p += 8;
    }
    for (i, acc_i) in acc.iter().enumerate() {
        for (j, a) in acc_i.iter().enumerate() {
            let mut tail = 0.0f32;
            for t in p..d {
                tail += *q.add(i * d + t) * *r.add(j * d + t);
            }
            *out.add(i * ldo + j) = hsum256(*a) + tail;
        }
    }
}
