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

use super::PackedTile;

fn check_tile(queries: &[f32], rows: &[f32], d: usize, out: &[f32]) -> (usize, usize) {
    assert!(d > 0 && queries.len().is_multiple_of(d) && rows.len().is_multiple_of(d), "tile: lengths must be multiples of d");
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

// ------------------------------------------------------------------------------------------
// Packed (GEMM-style) batch kernels: MQ queries x two panels of catalogue rows per step.
// ------------------------------------------------------------------------------------------

/// Rows per packed panel for AVX-512 (one zmm of f32).
pub const PANEL_AVX512: usize = 16;
/// Rows per packed panel for AVX2 (one ymm of f32).
pub const PANEL_AVX2: usize = 8;
/// AVX-512 micro-tile: MQ512 queries x NP512 panels of 16 rows (12 x 2, 8 x 3 and 6 x 4 all
/// measured within 3% of each other: the loop is FMA-bound either way).
const MQ512: usize = 12;
const NP512: usize = 2;
/// AVX2 micro-tile: 6 queries x 2 panels of 8 rows (no prefetching of the next block).
const MQ256: usize = 6;
// Queries per micro-tile (the `dispatch_rows!` calls below): AVX-512 12 x 2 accumulators + 2
// panel vectors + 1 broadcast = 27 of the 32 zmm registers; AVX2 6 x 2 + 2 + 1 = 15 of 16 ymm.

fn check_packed(args: &PackedTile<'_>, width: usize) -> (usize, usize) {
    let d = args.d;
    assert!(d > 0 && args.queries.len().is_multiple_of(d) && args.panels.len().is_multiple_of(d * width), "packed_tile: bad lengths");
    let (nq, n_panels) = (args.queries.len() / d, args.panels.len() / (d * width));
    assert!(args.ldo >= n_panels * width, "packed_tile: ldo too small");
    assert!(nq == 0 || args.out.len() >= (nq - 1) * args.ldo + n_panels * width, "packed_tile: output too small");
    assert!(args.scales.is_empty() || args.scales.len() >= n_panels * width, "packed_tile: scales too short");
    assert!(args.thresholds.len() >= nq && args.hits.len() >= nq * n_panels, "packed_tile: thresholds/hits too short");
    (nq, n_panels)
}

/// Raw pointers for the micro-kernels (bounds already checked by `check_packed`).
#[derive(Clone, Copy)]
struct Ptrs {
    q: *const f32,
    panels: *const f32,
    n_panels: usize,
    d: usize,
    scales: *const f32,
    thresholds: *const f32,
    out: *mut f32,
    ldo: usize,
    hits: *mut bool,
    /// Prefetch target of this micro-tile's first panel group, and cache lines per group.
    pf: *const f32,
    pf_lines: usize,
    /// Panel groups per micro-tile (to give each micro-tile its own prefetch range).
    groups_per_tile: usize,
    mq: usize,
}

impl Ptrs {
    fn new(args: &mut PackedTile<'_>, n_panels: usize, mq: usize, np: usize) -> Self {
        let nq = args.queries.len() / args.d;
        let groups_per_tile = n_panels / np + n_panels % np;
        let invocations = (nq.div_ceil(mq) * groups_per_tile).max(1);
        let pf_lines = args.prefetch.len().div_ceil(16).div_ceil(invocations);
        Ptrs {
            pf: args.prefetch.as_ptr(),
            pf_lines,
            groups_per_tile,
            mq,
            q: args.queries.as_ptr(),
            panels: args.panels.as_ptr(),
            n_panels,
            d: args.d,
            scales: args.scales.as_ptr(),
            thresholds: args.thresholds.as_ptr(),
            out: args.out.as_mut_ptr(),
            ldo: args.ldo,
            hits: args.hits.as_mut_ptr(),
        }
    }

    /// The same pointers advanced to query `i`.
    unsafe fn at_query(self, i: usize) -> Self {
        Ptrs {
            q: self.q.add(i * self.d),
            thresholds: self.thresholds.add(i),
            out: self.out.add(i * self.ldo),
            hits: self.hits.add(i * self.n_panels),
            // wrapping: a prefetch address may lie past the target (prefetches never fault).
            pf: self.pf.wrapping_add((i / self.mq) * self.groups_per_tile * self.pf_lines * 16),
            ..self
        }
    }
}

/// Dispatch `nq` queries to micro-kernels of `$full` queries and one remainder kernel.
macro_rules! dispatch_rows {
    ($kernel:ident, $ptrs:expr, $nq:expr, $scaled:expr, $full:expr, [$($m:literal),*]) => {{
        let ptrs = $ptrs;
        let mut i = 0;
        while i + $full <= $nq {
            if $scaled { $kernel::<$full, true>(ptrs.at_query(i)) } else { $kernel::<$full, false>(ptrs.at_query(i)) }
            i += $full;
        }
        match $nq - i {
            0 => {}
            $($m => if $scaled { $kernel::<$m, true>(ptrs.at_query(i)) } else { $kernel::<$m, false>(ptrs.at_query(i)) },)*
            _ => unreachable!(),
        }
    }};
}

/// Packed batch kernel (AVX-512F); panels from `pack_panels(.., PANEL_AVX512, ..)`.
pub fn packed_tile_avx512(args: &mut PackedTile<'_>) {
    let (nq, n_panels) = check_packed(args, PANEL_AVX512);
    let scaled = !args.scales.is_empty();
    let ptrs = Ptrs::new(args, n_panels, MQ512, NP512);
    // SAFETY: reachable only via kernel_impl(Avx512); check_packed bounded every offset.
    unsafe { dispatch_rows!(packed512, ptrs, nq, scaled, MQ512, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) }
}

/// Scale, store and flag one 16-row panel of scores for one query.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn finish512<const SCALED: bool>(acc: __m512, p: Ptrs, i: usize, panel: usize) {
    const W: usize = PANEL_AVX512;
    let s = if SCALED { _mm512_mul_ps(acc, _mm512_loadu_ps(p.scales.add(panel * W))) } else { acc };
    _mm512_storeu_ps(p.out.add(i * p.ldo + panel * W), s);
    let thr = _mm512_set1_ps(*p.thresholds.add(i));
    let above = _mm512_cmp_ps_mask::<_CMP_NLE_UQ>(s, thr);
    let neg_inf = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(s, _mm512_set1_ps(f32::NEG_INFINITY));
    *p.hits.add(i * p.n_panels + panel) = (above | neg_inf) != 0;
}

#[target_feature(enable = "avx512f")]
unsafe fn packed512<const MQ: usize, const SCALED: bool>(p: Ptrs) {
    let mut panel = 0;
    let mut group = 0;
    while panel + NP512 <= p.n_panels {
        panels512::<MQ, NP512, SCALED>(p, panel, group);
        panel += NP512;
        group += 1;
    }
    while panel < p.n_panels {
        panels512::<MQ, 1, SCALED>(p, panel, group);
        panel += 1;
        group += 1;
    }
}

/// MQ queries x NP panels (16 rows each) of accumulators, starting at panel `first`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn panels512<const MQ: usize, const NP: usize, const SCALED: bool>(p: Ptrs, first: usize, group: usize) {
    const W: usize = PANEL_AVX512;
    let (q, d) = (p.q, p.d);
    // Spread this group's share of the next block's cache lines over the d iterations.
    let pf = p.pf.wrapping_add(group * p.pf_lines * 16);
    let pf_every = d.checked_div(p.pf_lines).map_or(usize::MAX, |every| every.max(1));
    let (mut pf_next, mut pf_done) = (0usize, 0usize);
    let mut b = [p.panels; NP];
    for (j, ptr) in b.iter_mut().enumerate() {
        *ptr = p.panels.add((first + j) * W * d);
    }
    let mut acc = [[_mm512_setzero_ps(); NP]; MQ];
    for t in 0..d {
        let mut v = [_mm512_setzero_ps(); NP];
        for (j, vj) in v.iter_mut().enumerate() {
            *vj = _mm512_loadu_ps(b[j].add(t * W));
        }
        for (i, acc_i) in acc.iter_mut().enumerate() {
            let a = _mm512_set1_ps(*q.add(i * d + t));
            for (aij, vj) in acc_i.iter_mut().zip(v.iter()) {
                *aij = _mm512_fmadd_ps(a, *vj, *aij);
            }
        }
        if t == pf_next && pf_done < p.pf_lines {
            _mm_prefetch::<_MM_HINT_T1>(pf.wrapping_add(pf_done * 16) as *const i8);
            pf_done += 1;
            pf_next += pf_every;
        }
    }
    for (i, acc_i) in acc.iter().enumerate() {
        for (j, aij) in acc_i.iter().enumerate() {
            finish512::<SCALED>(*aij, p, i, first + j);
        }
    }
}

/// Packed batch kernel (AVX2+FMA); panels from `pack_panels(.., PANEL_AVX2, ..)`.
pub fn packed_tile_avx2(args: &mut PackedTile<'_>) {
    let (nq, n_panels) = check_packed(args, PANEL_AVX2);
    let scaled = !args.scales.is_empty();
    let ptrs = Ptrs::new(args, n_panels, MQ256, 2);
    // SAFETY: reachable only via kernel_impl(Avx2); check_packed bounded every offset.
    unsafe { dispatch_rows!(packed256, ptrs, nq, scaled, MQ256, [1, 2, 3, 4, 5]) }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn finish256<const SCALED: bool>(acc: __m256, p: Ptrs, i: usize, panel: usize) {
    const W: usize = PANEL_AVX2;
    let s = if SCALED { _mm256_mul_ps(acc, _mm256_loadu_ps(p.scales.add(panel * W))) } else { acc };
    _mm256_storeu_ps(p.out.add(i * p.ldo + panel * W), s);
    let thr = _mm256_set1_ps(*p.thresholds.add(i));
    let above = _mm256_cmp_ps::<_CMP_NLE_UQ>(s, thr);
    let neg_inf = _mm256_cmp_ps::<_CMP_EQ_OQ>(s, _mm256_set1_ps(f32::NEG_INFINITY));
    *p.hits.add(i * p.n_panels + panel) = _mm256_movemask_ps(_mm256_or_ps(above, neg_inf)) != 0;
}

#[target_feature(enable = "avx2,fma")]
unsafe fn packed256<const MQ: usize, const SCALED: bool>(p: Ptrs) {
    const W: usize = PANEL_AVX2;
    let (q, d) = (p.q, p.d);
    let mut panel = 0;
    while panel + 2 <= p.n_panels {
        let (b0, b1) = (p.panels.add(panel * W * d), p.panels.add((panel + 1) * W * d));
        let mut acc = [[_mm256_setzero_ps(); 2]; MQ];
        for t in 0..d {
            let v0 = _mm256_loadu_ps(b0.add(t * W));
            let v1 = _mm256_loadu_ps(b1.add(t * W));
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let a = _mm256_broadcast_ss(&*q.add(i * d + t));
                acc_i[0] = _mm256_fmadd_ps(a, v0, acc_i[0]);
                acc_i[1] = _mm256_fmadd_ps(a, v1, acc_i[1]);
            }
        }
        for (i, acc_i) in acc.iter().enumerate() {
            finish256::<SCALED>(acc_i[0], p, i, panel);
            finish256::<SCALED>(acc_i[1], p, i, panel + 1);
        }
        panel += 2;
    }
    if panel < p.n_panels {
        let b0 = p.panels.add(panel * W * d);
        let mut acc = [_mm256_setzero_ps(); MQ];
        for t in 0..d {
            let v0 = _mm256_loadu_ps(b0.add(t * W));
            for (i, acc_i) in acc.iter_mut().enumerate() {
                *acc_i = _mm256_fmadd_ps(_mm256_broadcast_ss(&*q.add(i * d + t)), v0, *acc_i);
            }
        }
        for (i, acc_i) in acc.iter().enumerate() {
            finish256::<SCALED>(*acc_i, p, i, panel);
        }
    }
}

/// `pack_panels` for 16-row panels with AVX-512F: 16 x 16 blocks are transposed in registers
/// (4 shuffle stages, 64 shuffles per 256 values) instead of 256 scattered scalar stores.
pub fn pack_panels_avx512(block: &[f32], d: usize, width: usize, out: &mut Vec<f32>) {
    assert_eq!(width, PANEL_AVX512, "pack_panels_avx512 packs 16-row panels");
    assert!(d > 0 && block.len().is_multiple_of(d));
    let rows = block.len() / d;
    let panels = rows.div_ceil(PANEL_AVX512);
    out.clear();
    out.resize(panels * PANEL_AVX512 * d, 0.0);
    for p in 0..panels {
        let live = (rows - p * PANEL_AVX512).min(PANEL_AVX512);
        // SAFETY: reachable only via kernel_impl(Avx512); rows p*16 .. p*16+live are inside
        // `block`, and the panel is inside `out` (sized above).
        unsafe { transpose_panel512(block.as_ptr().add(p * PANEL_AVX512 * d), live, d, out.as_mut_ptr().add(p * PANEL_AVX512 * d)) }
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn transpose_panel512(src: *const f32, live: usize, d: usize, dst: *mut f32) {
    let mut t0 = 0;
    while t0 < d {
        let cols = (d - t0).min(16);
        let mask = if cols == 16 { 0xffff } else { tail_mask(cols) };
        let mut r = [_mm512_setzero_ps(); 16];
        for (i, v) in r.iter_mut().enumerate().take(live) {
            *v = _mm512_maskz_loadu_ps(mask, src.add(i * d + t0));
            // The same line of the next panel's rows: 16 interleaved streams are more than the
            // hardware prefetcher follows well (measured: -13% time at B = 64). A prefetch past
            // the end of the catalogue is harmless (prefetches never fault).
            _mm_prefetch::<_MM_HINT_T0>(src.wrapping_add((i + 16) * d + t0) as *const i8);
        }
        let c = transpose16(r);
        for (t, v) in c.iter().enumerate().take(cols) {
            _mm512_storeu_ps(dst.add((t0 + t) * 16), *v);
        }
        t0 += 16;
    }
}

/// 16 x 16 transpose: `out[j][i] = r[i][j]`.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4g + e]: element e (of each 4-wide lane) of rows 4g..4g+4.
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let (a, b, c, e) = (
            _mm512_castps_pd(t[4 * g]),
            _mm512_castps_pd(t[4 * g + 1]),
            _mm512_castps_pd(t[4 * g + 2]),
            _mm512_castps_pd(t[4 * g + 3]),
        );
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, e));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, e));
    }
    // v: 128-bit lanes gathered across row groups (0,1) and (2,3).
    let mut v = [_mm512_setzero_ps(); 16];
    for e in 0..4 {
        v[e] = _mm512_shuffle_f32x4::<0x88>(u[e], u[4 + e]);
        v[4 + e] = _mm512_shuffle_f32x4::<0xdd>(u[e], u[4 + e]);
        v[8 + e] = _mm512_shuffle_f32x4::<0x88>(u[8 + e], u[12 + e]);
        v[12 + e] = _mm512_shuffle_f32x4::<0xdd>(u[8 + e], u[12 + e]);
    }
    let mut out = [_mm512_setzero_ps(); 16];
    for e in 0..4 {
        out[e] = _mm512_shuffle_f32x4::<0x88>(v[e], v[8 + e]);
        out[8 + e] = _mm512_shuffle_f32x4::<0xdd>(v[e], v[8 + e]);
        out[4 + e] = _mm512_shuffle_f32x4::<0x88>(v[4 + e], v[12 + e]);
        out[12 + e] = _mm512_shuffle_f32x4::<0xdd>(v[4 + e], v[12 + e]);
    }
    out
}
