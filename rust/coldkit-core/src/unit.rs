//! Rows scaled to unit length: a catalogue's vectors as they are read (`--item-vectors`) and as a
//! content model centres them.
//!
//! In numpy both are five or six passes over a float64 copy of each block of rows (convert, scale,
//! square, sum, divide, round back to f32): at 1M x 384 about 2 s to read a vector file and 5.6 s
//! to centre it, most of it passes, not arithmetic. Here each row is done in one visit, rows shared
//! among threads. The arithmetic is numpy's, so the result is the same bits:
//! * the row is widened to f64; scaling (by the largest |value|), centring (minus a f64 mean) and
//!   the final division are element-wise and correctly rounded, as numpy's;
//! * the squared norm is summed in numpy's pairwise order (`np.add.reduce` along a contiguous axis:
//!   eight interleaved partial sums over blocks of at most 128 values, halves above that, starting
//!   from the identity 0) — [`pairwise_sum_of_squares`];
//! * nothing is fused or reassociated (Rust never contracts `a * b + c` into an FMA on its own).

use std::sync::Mutex;

use rayon::prelude::*;

use crate::error::{ArrayName, CoreError};
use crate::threads::parallelism;
use crate::topk::check_matrix;

/// Rows per work unit of a thread.
const ROWS_PER_TASK: usize = 256;
/// numpy's `PW_BLOCKSIZE`: the longest run summed with eight partial sums before halving.
const PAIRWISE_BLOCK: usize = 128;

/// What to do to each row before it is scaled to unit length.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitRows<'a> {
    /// Subtract this (d,) mean; a row that is all zeros stays all zeros ("no content"), and so does
    /// a row whose centred norm is 0 (it becomes +0.0 throughout).
    pub centre: Option<&'a [f64]>,
    /// Divide the row by its largest |value| first, so that squaring huge values cannot overflow.
    pub rescale: bool,
}

/// `sum(x * x)` in numpy's pairwise order, so the bits equal `np.add.reduce(x * x)`.
pub fn pairwise_sum_of_squares(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 8 {
        x.iter().fold(0.0, |sum, v| sum + v * v)
    } else if n <= PAIRWISE_BLOCK {
        let mut partial = [0.0f64; 8];
        for (p, v) in partial.iter_mut().zip(&x[..8]) {
            *p = v * v;
        }
        let whole = n - n % 8;
        for block in x[8..whole].chunks_exact(8) {
            for (p, v) in partial.iter_mut().zip(block) {
                *p += v * v;
            }
        }
        let mut sum = ((partial[0] + partial[1]) + (partial[2] + partial[3]))
            + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
        for v in &x[whole..] {
            sum += v * v;
        }
        sum
    } else {
        let half = n / 2 - (n / 2) % 8;
        pairwise_sum_of_squares(&x[..half]) + pairwise_sum_of_squares(&x[half..])
    }
}

/// One row: widened into `scratch`, rescaled / centred as asked, divided by its norm into `out`.
fn unit_row(row: &[f32], how: UnitRows<'_>, scratch: &mut [f64], out: &mut [f32]) {
    for (s, &v) in scratch.iter_mut().zip(row) {
        *s = f64::from(v);
    }
    if how.rescale {
        let scale = scratch.iter().fold(0.0f64, |top, v| top.max(v.abs()));
        if scale > 0.0 {
            for s in scratch.iter_mut() {
                *s /= scale;
            }
        }
    }
    if let Some(mean) = how.centre {
        if row.iter().all(|&v| v == 0.0) {
            out.fill(0.0);
            return;
        }
        for (s, &m) in scratch.iter_mut().zip(mean) {
            *s -= m;
        }
    }
    let norm = pairwise_sum_of_squares(scratch).sqrt();
    if norm > 0.0 {
        for (o, &s) in out.iter_mut().zip(scratch.iter()) {
            *o = (s / norm) as f32;
        }
    } else if how.centre.is_some() {
        out.fill(0.0); // numpy writes these rows from a zeroed array: +0.0, never -0.0
    } else {
        for (o, &s) in out.iter_mut().zip(scratch.iter()) {
            *o = s as f32; // all ±0: kept as they are, as numpy's masked division keeps them
        }
    }
}

/// `(rows, d)` row-major: each row of `table` scaled to unit L2 norm after what `how` asks; a row
/// with norm 0 stays as it is (zero). Refused: a NaN/inf value (the first one's row and column are
/// named), a mean whose length is not `d`.
pub fn unit_rows(
    table: &[f32],
    shape: (usize, usize),
    how: UnitRows<'_>,
    threads: Option<usize>,
) -> Result<Vec<f32>, CoreError> {
    check_matrix(table, shape, ArrayName::Table)?;
    let d = shape.1;
    if let Some(mean) = how.centre {
        if mean.len() != d {
            return Err(CoreError::InvalidArgument(format!("mean has {} values, the table's rows {d}", mean.len())));
        }
    }
    let par = parallelism(threads)?;
    let mut out = vec![0.0f32; table.len()];
    // the first bad value of the rows each task saw; the smallest row wins
    let first_bad: Mutex<Option<(usize, usize)>> = Mutex::new(None);
    let fill = |(task, block): (usize, &mut [f32])| {
        let first_row = task * ROWS_PER_TASK;
        let rows = &table[first_row * d..first_row * d + block.len()];
        if let Some(position) = rows.iter().position(|v| !v.is_finite()) {
            let found = (first_row + position / d, position % d);
            let mut slot = first_bad.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if slot.is_none_or(|seen| found < seen) {
                *slot = Some(found);
            }
            return;
        }
        let mut scratch = vec![0.0f64; d];
        for (row, unit) in rows.chunks_exact(d).zip(block.chunks_exact_mut(d)) {
            unit_row(row, how, &mut scratch, unit);
        }
    };
    let chunk = ROWS_PER_TASK * d;
    par.run(|threads| {
        if threads <= 1 || shape.0 <= ROWS_PER_TASK {
            out.chunks_mut(chunk).enumerate().for_each(fill);
        } else {
            out.par_chunks_mut(chunk).enumerate().for_each(fill);
        }
    });
    match first_bad.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()) {
        Some((row, col)) => Err(CoreError::NonFinite { array: ArrayName::Table, row, col }),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy's pairwise summation of the squares of `x`, written index by index as its C source
    /// (`pairwise_sum` in loops_utils.h) does it: the independent reference of the block and halving order.
    #[allow(clippy::needless_range_loop)] // index by index is the point: the C source's loops
    fn reference_pairwise(x: &[f64]) -> f64 {
        let n = x.len();
        if n < 8 {
            let mut sum = 0.0;
            for i in 0..n {
                sum += x[i] * x[i];
            }
            sum
        } else if n <= 128 {
            let mut r = [0.0f64; 8];
            for j in 0..8 {
                r[j] = x[j] * x[j];
            }
            let mut i = 8;
            while i < n - n % 8 {
                for j in 0..8 {
                    r[j] += x[i + j] * x[i + j];
                }
                i += 8;
            }
            let mut sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            while i < n {
                sum += x[i] * x[i];
                i += 1;
            }
            sum
        } else {
            let mut half = n / 2;
            half -= half % 8;
            reference_pairwise(&x[..half]) + reference_pairwise(&x[half..])
        }
    }

    #[test]
    fn a_block_sums_eight_interleaved_partials() {
        let x: Vec<f64> = (0..21).map(|i| 1.0 + (i as f64) * 1e-9).collect();
        let mut partial = [0.0f64; 8];
        for (i, v) in x[..16].iter().enumerate() {
            partial[i % 8] += v * v;
        }
        let mut want = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
        for v in &x[16..] {
            want += v * v;
        }
        assert_eq!(pairwise_sum_of_squares(&x).to_bits(), want.to_bits());
        assert_eq!(pairwise_sum_of_squares(&x[..5]), x[..5].iter().map(|v| v * v).sum::<f64>());
        let long: Vec<f64> = (0..1500).map(|i| ((i * 7919 % 1013) as f64 - 500.0) * 1.37e-3 * (1.0 + (i % 7) as f64 * 1e3)).collect();
        for n in (0..=300).chain([383, 384, 385, 1000, 1500]) {
            assert_eq!(pairwise_sum_of_squares(&long[..n]).to_bits(), reference_pairwise(&long[..n]).to_bits(), "n = {n}");
        }
    }

    #[test]
    fn rows_are_unit_centred_and_zero_rows_stay_zero_on_any_thread_count() {
        let d = 5;
        let mut table: Vec<f32> = (0..600 * d).map(|i| ((i * 7919 % 1013) as f32 - 500.0) * 1.37e-3).collect();
        table[3 * d..4 * d].fill(0.0);
        let mean = [0.1f64, -0.2, 0.0, 0.3, 0.05];
        for how in [UnitRows::default(), UnitRows { centre: Some(&mean), rescale: false }, UnitRows { centre: None, rescale: true }] {
            let want = unit_rows(&table, (600, d), how, Some(1)).unwrap();
            for threads in [Some(2), Some(3), None] {
                assert_eq!(unit_rows(&table, (600, d), how, threads).unwrap(), want);
            }
            assert!(want[3 * d..4 * d].iter().all(|&v| v == 0.0 && v.is_sign_positive()));
            let norm: f64 = want[..d].iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            assert!((norm - 1.0).abs() < 1e-6);
        }
        // rescaling first keeps huge finite values from overflowing the squares
        let huge = [3e38f32, -3e38, 1e38];
        let unit = unit_rows(&huge, (1, 3), UnitRows { centre: None, rescale: true }, None).unwrap();
        assert!(unit.iter().all(|v| v.is_finite()) && (unit[0] - 0.6882472).abs() < 1e-6);
    }

    #[test]
    fn bad_input_is_refused_by_name() {
        let mut table = vec![1.0f32; 3000];
        table[2 * 1000 + 17] = f32::NAN;
        table[2 * 1000 + 900] = f32::INFINITY;
        let err = unit_rows(&table, (3, 1000), UnitRows::default(), Some(2)).unwrap_err();
        assert_eq!(err, CoreError::NonFinite { array: ArrayName::Table, row: 2, col: 17 });
        let mut many = vec![1.0f32; 2000 * 4];
        many[1500 * 4 + 1] = f32::NEG_INFINITY;
        many[300 * 4 + 2] = f32::NAN; // two tasks see a bad value: the first row is named
        let err = unit_rows(&many, (2000, 4), UnitRows::default(), Some(3)).unwrap_err();
        assert_eq!(err, CoreError::NonFinite { array: ArrayName::Table, row: 300, col: 2 });
        let mean = [0.0f64; 3];
        assert!(unit_rows(&[1.0; 8], (2, 4), UnitRows { centre: Some(&mean), rescale: false }, None)
            .unwrap_err()
            .to_string()
            .contains("mean has 3 values"));
        assert!(unit_rows(&[1.0; 7], (2, 4), UnitRows::default(), None).is_err());
    }
}
