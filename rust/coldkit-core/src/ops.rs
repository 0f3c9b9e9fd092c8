//! Whole-matrix operations: finiteness checks, row normalisation, the dense cosine matrix.

use rayon::prelude::*;

use crate::error::{ArrayName, CoreError};
use crate::kernels::KernelImpl;
use crate::threads::parallelism;
use crate::topk::{check_matrix, chunk_rows, QUERY_TILE};

const EXPONENT: u32 = 0x7f80_0000;

/// (row, col) of the first NaN/inf in a row-major matrix with `d` columns, if any.
///
/// Blocks are tested with a branch-free OR (vectorises to a streaming read); only the block
/// holding a bad value is searched element by element.
pub fn find_non_finite(data: &[f32], d: usize) -> Option<(usize, usize)> {
    const BLOCK: usize = 4096;
    for (b, block) in data.chunks(BLOCK).enumerate() {
        let any_bad = block.iter().fold(false, |acc, v| acc | (v.to_bits() & EXPONENT == EXPONENT));
        if any_bad {
            let offset = block.iter().position(|v| !v.is_finite()).unwrap_or(0) + b * BLOCK;
            let d = d.max(1);
            return Some((offset / d, offset % d));
        }
    }
    None
}

/// 1/|row| (or 1/|row - mean| when `centre`), computed in f64; 0 for a zero (constant) row,
/// NaN for a row with NaN/inf. The result is rounded to f32 (inf for subnormal-sized rows).
pub fn inverse_norm_f64(row: &[f32], centre: bool) -> f32 {
    let mean = if centre { row.iter().map(|&x| x as f64).sum::<f64>() / row.len() as f64 } else { 0.0 };
    let ss: f64 = row.iter().map(|&x| (x as f64 - mean) * (x as f64 - mean)).sum();
    if !ss.is_finite() {
        f32::NAN
    } else if ss > 0.0 {
        (1.0 / ss.sqrt()) as f32
    } else {
        0.0
    }
}

/// Copy of `data` with every row scaled to unit length (after subtracting its mean when
/// `centre`); zero / constant rows stay zero. Norms are taken in f64 so huge finite values
/// cannot overflow. Input must be finite.
pub fn prepare_rows(data: &[f32], d: usize, centre: bool) -> Vec<f32> {
    let mut out = Vec::with_capacity(data.len());
    for row in data.chunks_exact(d) {
        let mean = if centre { row.iter().map(|&x| x as f64).sum::<f64>() / d as f64 } else { 0.0 };
        let ss: f64 = row.iter().map(|&x| (x as f64 - mean) * (x as f64 - mean)).sum();
        let inv = if ss > 0.0 { 1.0 / ss.sqrt() } else { 0.0 };
        out.extend(row.iter().map(|&x| ((x as f64 - mean) * inv) as f32));
    }
    out
}

/// Rows of a (rows, d) matrix scaled to unit L2 norm; zero rows stay zero.
pub fn normalize(data: &[f32], shape: (usize, usize)) -> Result<Vec<f32>, CoreError> {
    check_matrix(data, shape, ArrayName::Input)?;
    if let Some((row, col)) = find_non_finite(data, shape.1) {
        return Err(CoreError::NonFinite { array: ArrayName::Input, row, col });
    }
    Ok(prepare_rows(data, shape.1, false))
}

/// The dense (m, n) matrix of cosine similarities between the rows of `a` (m, d) and `b` (n, d).
pub fn cosine_matrix(
    a: &[f32],
    a_shape: (usize, usize),
    b: &[f32],
    b_shape: (usize, usize),
    kernel: &KernelImpl,
    threads: Option<usize>,
) -> Result<Vec<f32>, CoreError> {
    check_matrix(a, a_shape, ArrayName::A)?;
    check_matrix(b, b_shape, ArrayName::B)?;
    let ((m, d), (n, db)) = (a_shape, b_shape);
    if d != db {
        return Err(CoreError::DimensionMismatch { queries: d, catalog: db });
    }
    for (data, name) in [(a, ArrayName::A), (b, ArrayName::B)] {
        if let Some((row, col)) = find_non_finite(data, d) {
            return Err(CoreError::NonFinite { array: name, row, col });
        }
    }
    let par = parallelism(threads)?;
    let (a, b) = (prepare_rows(a, d, false), prepare_rows(b, d, false));
    let mut out = vec![0.0f32; m * n];
    if m == 0 || n == 0 {
        return Ok(out);
    }
    let chunk = chunk_rows(d);
    let fill = |(t, out_rows): (usize, &mut [f32])| {
        let tile = &a[t * QUERY_TILE * d..((t * QUERY_TILE + out_rows.len() / n) * d)];
        let nq = tile.len() / d;
        let mut buf = vec![0.0f32; nq * chunk];
        let mut start = 0;
        while start < n {
            let end = (start + chunk).min(n);
            let nr = end - start;
            (kernel.tile)(tile, &b[start * d..end * d], d, &mut buf[..nq * nr]);
            for i in 0..nq {
                out_rows[i * n + start..i * n + end].copy_from_slice(&buf[i * nr..(i + 1) * nr]);
            }
            start = end;
        }
    };
    par.run(|threads| {
        if threads <= 1 {
            out.chunks_mut(QUERY_TILE * n).enumerate().for_each(fill);
        } else {
            out.par_chunks_mut(QUERY_TILE * n).enumerate().for_each(fill);
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_non_finite_value() {
        let mut x = vec![1.0f32; 10_000];
        assert_eq!(find_non_finite(&x, 10), None);
        x[9_999] = f32::INFINITY;
        x[5_003] = f32::NAN;
        assert_eq!(find_non_finite(&x, 10), Some((500, 3)));
    }

    #[test]
    fn normalize_keeps_zero_rows_and_handles_huge_values() {
        let x = [3.0f32, 4.0, 0.0, 0.0, 3e38, 3e38];
        let y = normalize(&x, (3, 2)).unwrap();
        assert_eq!(&y[..4], &[0.6, 0.8, 0.0, 0.0]);
        assert!((y[4] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert!(matches!(normalize(&[f32::NAN, 1.0], (1, 2)), Err(CoreError::NonFinite { .. })));
    }

    #[test]
    fn cosine_matrix_matches_pairwise_cosine() {
        let a: Vec<f32> = (0..70 * 5).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
        let b: Vec<f32> = (0..13 * 5).map(|i| ((i * 17 % 7) as f32) - 3.0).collect();
        for threads in [Some(1), Some(2)] {
            let got = cosine_matrix(&a, (70, 5), &b, (13, 5), crate::kernels::active(), threads).unwrap();
            for i in 0..70 {
                for j in 0..13 {
                    let (x, y) = (&a[i * 5..i * 5 + 5], &b[j * 5..j * 5 + 5]);
                    let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
                    let nx = x.iter().map(|v| v * v).sum::<f32>().sqrt();
                    let ny = y.iter().map(|v| v * v).sum::<f32>().sqrt();
                    let want = if nx > 0.0 && ny > 0.0 { dot / (nx * ny) } else { 0.0 };
                    assert!((got[i * 13 + j] - want).abs() < 1e-5);
                }
            }
        }
    }
}
