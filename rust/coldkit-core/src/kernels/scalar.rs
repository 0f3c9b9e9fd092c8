//! Portable kernels: the reference every SIMD kernel is tested against, and the fallback.

/// Inner product with eight independent partial sums (lets the compiler use SSE/NEON lanes
/// without reassociating a single accumulator).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for lane in 0..8 {
            acc[lane] += x[lane] * y[lane];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]) + tail
}

/// All query x row inner products of a block.
pub fn tile(queries: &[f32], rows: &[f32], d: usize, out: &mut [f32]) {
    let n_rows = rows.len() / d;
    for (i, q) in queries.chunks_exact(d).enumerate() {
        let out_row = &mut out[i * n_rows..(i + 1) * n_rows];
        for (slot, r) in out_row.iter_mut().zip(rows.chunks_exact(d)) {
            *slot = dot(q, r);
        }
    }
}
