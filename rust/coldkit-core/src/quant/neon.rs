//! aarch64 NEON int8 kernel (`smull` + `sadalp`: 8-bit products widened to 16 bits, pairwise
//! accumulated into 32 bits). Compiled on aarch64 only; NEON is part of the baseline ISA there.

use std::arch::aarch64::*;

use super::kernels::{check_int8, Int8Query};

/// int8 dots with NEON.
pub fn int8_dots_neon(q: &Int8Query, rows: &[i8], rowsums: &[i32], d: usize, out: &mut [i32]) {
    let nr = check_int8(q, rows, rowsums, d, out);
    // SAFETY: reachable only after the neon check; lengths checked above.
    unsafe { neon_int8(q.codes.as_ptr(), rows.as_ptr(), nr, d, out.as_mut_ptr()) }
}

#[target_feature(enable = "neon")]
unsafe fn neon_int8(q: *const i8, r: *const i8, nr: usize, d: usize, out: *mut i32) {
    let full = d / 16 * 16;
    for j in 0..nr {
        let row = r.add(j * d);
        let mut acc = vdupq_n_s32(0);
        let mut p = 0;
        while p < full {
            let qv = vld1q_s8(q.add(p));
            let cv = vld1q_s8(row.add(p));
            acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(qv), vget_low_s8(cv)));
            acc = vpadalq_s16(acc, vmull_high_s8(qv, cv));
            p += 16;
        }
        let mut sum = vaddvq_s32(acc);
        for col in full..d {
            sum += *q.add(col) as i32 * *row.add(col) as i32;
        }
        *out.add(j) = sum;
    }
}
