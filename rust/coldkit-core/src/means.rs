//! The mean of the rows each list names: a content model's "interest" of a user is the mean of
//! the vectors of the items they clicked.
//!
//! In numpy that is `table[list].mean(axis=0)` per user: a gathered copy of every clicked row,
//! then the sum. Here the rows are summed where they lie, one list per output row, the lists
//! shared among threads. The arithmetic is numpy's, so the result is the same bits:
//! * each column is summed in f32, in list order (numpy's reduction over the outer axis of a
//!   C-contiguous array adds one row after another; it sums pairwise only along a contiguous
//!   axis, which a table of one column would be — the Python wrapper keeps numpy there);
//! * the sum is divided by the count in f64 and rounded to f32 (numpy divides the f32 sum by an
//!   integer count, a float64 division cast back).

use rayon::prelude::*;

use crate::error::{ArrayName, CoreError};
use crate::threads::parallelism;
use crate::topk::check_matrix;

/// Lists per work unit of a thread: enough to make a task worth scheduling.
const LISTS_PER_TASK: usize = 16;

/// Check that `indptr` / `indices` are a CSR index of `lists` lists over `rows` table rows.
fn check_lists(indptr: &[i64], indices: &[i64], rows: usize) -> Result<usize, CoreError> {
    let Some((&first, rest)) = indptr.split_first() else {
        return Err(CoreError::InvalidArgument("indptr must have at least one entry (0 lists: [0])".into()));
    };
    if first != 0 {
        return Err(CoreError::InvalidArgument(format!("indptr must start at 0, got {first}")));
    }
    let mut previous = first;
    for (list, &end) in rest.iter().enumerate() {
        if end < previous {
            return Err(CoreError::InvalidArgument(format!(
                "indptr must not decrease: list {list} ends at {end}, before its start {previous}"
            )));
        }
        previous = end;
    }
    if previous as u64 != indices.len() as u64 {
        return Err(CoreError::InvalidArgument(format!(
            "indptr ends at {previous} but there are {} indices",
            indices.len()
        )));
    }
    if let Some(position) = indices.iter().position(|&i| i < 0 || i as u64 >= rows as u64) {
        let list = indptr.partition_point(|&start| start <= position as i64) - 1;
        return Err(CoreError::InvalidArgument(format!(
            "list {list} names row {}, outside the table's rows 0..{rows}",
            indices[position]
        )));
    }
    Ok(rest.len())
}

/// `(lists, d)` row-major: row `q` is the mean of `table[indices[indptr[q]..indptr[q + 1]]]`, zero
/// for an empty list. `table` is `(rows, d)` row-major. Bit-identical to numpy's
/// `table[indices[indptr[q]:indptr[q + 1]]].mean(axis=0)` for `d >= 2` (see the module's notes).
pub fn row_means(
    table: &[f32],
    shape: (usize, usize),
    indptr: &[i64],
    indices: &[i64],
    threads: Option<usize>,
) -> Result<Vec<f32>, CoreError> {
    check_matrix(table, shape, ArrayName::Table)?;
    let (rows, d) = shape;
    let lists = check_lists(indptr, indices, rows)?;
    let par = parallelism(threads)?;
    let mut out = vec![0.0f32; lists * d];
    let fill = |(task, block): (usize, &mut [f32])| {
        for (offset, mean) in block.chunks_exact_mut(d).enumerate() {
            let list = task * LISTS_PER_TASK + offset;
            let (lo, hi) = (indptr[list] as usize, indptr[list + 1] as usize);
            if lo == hi {
                continue;
            }
            for &row in &indices[lo..hi] {
                let row = row as usize;
                // element-wise in list order: vectorised across the columns, never reassociated
                for (sum, &value) in mean.iter_mut().zip(&table[row * d..(row + 1) * d]) {
                    *sum += value;
                }
            }
            let count = (hi - lo) as f64;
            for value in mean.iter_mut() {
                *value = (f64::from(*value) / count) as f32;
            }
        }
    };
    let chunk = LISTS_PER_TASK * d;
    par.run(|threads| {
        if threads <= 1 || lists <= LISTS_PER_TASK {
            out.chunks_mut(chunk).enumerate().for_each(fill);
        } else {
            out.par_chunks_mut(chunk).enumerate().for_each(fill);
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: gather, then add row after row in f32, divide in f64.
    fn naive(table: &[f32], d: usize, indptr: &[i64], indices: &[i64]) -> Vec<f32> {
        let mut out = Vec::new();
        for q in 0..indptr.len() - 1 {
            let list = &indices[indptr[q] as usize..indptr[q + 1] as usize];
            let mut sum = vec![0.0f32; d];
            for &r in list {
                for j in 0..d {
                    sum[j] += table[r as usize * d + j];
                }
            }
            out.extend(sum.iter().map(|&s| if list.is_empty() { 0.0 } else { (s as f64 / list.len() as f64) as f32 }));
        }
        out
    }

    #[test]
    fn means_follow_the_list_order_on_any_thread_count() {
        let d = 7;
        let table: Vec<f32> = (0..50 * d).map(|i| ((i * 7919 % 1013) as f32 - 500.0) * 1.37e-3).collect();
        let mut indptr = vec![0i64];
        let mut indices = Vec::new();
        for q in 0..100i64 {
            for j in 0..(q % 13) {
                indices.push((q * 31 + j * 17) % 50); // repeats included
            }
            indptr.push(indices.len() as i64);
        }
        let want = naive(&table, d, &indptr, &indices);
        for threads in [Some(1), Some(2), Some(3), None] {
            let got = row_means(&table, (50, d), &indptr, &indices, threads).unwrap();
            assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }
        // an empty list is a zero row
        assert!(want[..d].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn bad_lists_are_refused_by_name() {
        let table = [1.0f32; 6];
        let err = |indptr: &[i64], indices: &[i64]| row_means(&table, (3, 2), indptr, indices, Some(1)).unwrap_err().to_string();
        assert!(err(&[], &[]).contains("at least one entry"));
        assert!(err(&[1, 1], &[0]).contains("start at 0"));
        assert!(err(&[0, 2, 1], &[0, 1]).contains("must not decrease"));
        assert!(err(&[0, 1], &[0, 1]).contains("there are 2 indices"));
        assert!(err(&[0, 1, 2], &[0, 3]).contains("list 1 names row 3"));
        assert!(err(&[0, 1], &[-1]).contains("list 0 names row -1"));
        assert!(row_means(&table, (2, 2), &[0], &[], None).is_err()); // 6 values are not 2 x 2
        assert_eq!(row_means(&table, (3, 2), &[0], &[], None).unwrap(), Vec::<f32>::new());
    }
}
