//! NEON kernels (aarch64). NEON is part of the aarch64 baseline, but the check in
//! `kernel_impl` still guards them like every other SIMD kernel.

use std::arch::aarch64::*;

/// Inner product (NEON).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: reachable only via kernel_impl(Neon), which checked neon; bounds from len.
    unsafe { dot_neon(a.as_ptr(), b.as_ptr(), a.len()) }
}

/// Block of inner products (NEON): one query against four rows at a time.
pub fn tile(queries: &[f32], rows: &[f32], d: usize, out: &mut [f32]) {
    assert!(d > 0 && queries.len() % d == 0 && rows.len() % d == 0, "tile: lengths must be multiples of d");
    let (nq, nr) = (queries.len() / d, rows.len() / d);
    assert!(out.len() >= nq * nr, "tile: output too small");
    for i in 0..nq {
        let q = &queries[i * d..(i + 1) * d];
        let mut j = 0;
        while j + 4 <= nr {
            // SAFETY: as above; the four rows j..j+4 are inside `rows`.
            let sums = unsafe { dot4_neon(q.as_ptr(), rows.as_ptr().add(j * d), d) };
            out[i * nr + j..i * nr + j + 4].copy_from_slice(&sums);
            j += 4;
        }
        while j < nr {
            out[i * nr + j] = dot(q, &rows[j * d..(j + 1) * d]);
            j += 1;
        }
    }
}

#[target_feature(enable = "neon")]
unsafe fn dot_neon(a: *const f32, b: *const f32, n: usize) -> f32 {
    let mut acc = [vdupq_n_f32(0.0); 4];
    let mut p = 0;
    while p + 16 <= n {
        for (lane, slot) in acc.iter_mut().enumerate() {
            let off = p + lane * 4;
            *slot = vfmaq_f32(*slot, vld1q_f32(a.add(off)), vld1q_f32(b.add(off)));
        }
        p += 16;
    }
    while p + 4 <= n {
        acc[0] = vfmaq_f32(acc[0], vld1q_f32(a.add(p)), vld1q_f32(b.add(p)));
        p += 4;
    }
    let mut tail = 0.0f32;
    while p < n {
        tail += *a.add(p) * *b.add(p);
        p += 1;
    }
    vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]))) + tail
}

#[target_feature(enable = "neon")]
unsafe fn dot4_neon(q: *const f32, r: *const f32, d: usize) -> [f32; 4] {
    let mut acc = [vdupq_n_f32(0.0); 4];
    let mut p = 0;
    while p + 4 <= d {
        let qv = vld1q_f32(q.add(p));
        for (j, slot) in acc.iter_mut().enumerate() {
            *slot = vfmaq_f32(*slot, qv, vld1q_f32(r.add(j * d + p)));
        }
        p += 4;
    }
    let mut out = [0.0f32; 4];
    for (j, slot) in out.iter_mut().enumerate() {
        let mut tail = 0.0f32;
        for t in p..d {
            tail += *q.add(t) * *r.add(j * d + t);
        }
        *slot = vaddvq_f32(acc[j]) + tail;
    }
    out
}
