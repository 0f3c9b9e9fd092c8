//! Exact top-k by a fused scan: scores are produced block by block (a few KiB, still in L1)
//! and compared with each query's current k-th best right away. The B x N score matrix is
//! never materialised, so memory stays O(B * k) however large the catalogue is.
//!
//! Work split:
//! * queries are cut into tiles of [`QUERY_TILE`] rows, the catalogue into blocks of
//!   [`chunk_rows`] rows sized so one block stays in L2 while every query of the tile meets it
//!   (the register-blocked kernels then reuse each loaded vector for several FMAs);
//! * with many query tiles, threads take whole tiles (each scans the full catalogue);
//! * with few (small batches), the catalogue is split into contiguous ranges, each thread keeps
//!   its own heaps, and the heaps are merged with the same total order, so the answer is exact
//!   and identical to the single-threaded one.

use std::borrow::Cow;
use std::ops::Range;

use rayon::prelude::*;

use crate::error::{ArrayName, CoreError};
use crate::heap::{Scored, TopK};
use crate::kernels::{KernelImpl, PackedTile};
use crate::ops::{find_non_finite, prepare_rows};
use crate::threads::{parallelism, Parallelism};

/// Queries scored together against one catalogue block (512 x 384 floats = 768 KiB, in L2
/// next to the packed block; each 12-query group of the micro-kernel sits in L1).
pub const QUERY_TILE: usize = 512;
/// Bytes of catalogue per block: inside a 1-2 MiB L2 next to a query tile.
const BLOCK_BYTES: usize = 384 * 1024;
/// From this many queries per tile on, catalogue blocks are packed for the GEMM-style kernel
/// (packing costs about one pass over the block, repaid once enough queries share it).
pub const PACK_MIN_QUERIES: usize = 24;
/// Below this many multiply-adds (b * n * d) a search runs on the calling thread.
const SERIAL_WORK: usize = 1 << 18;
/// Queries whose scores are produced (and consumed) together in the packed path.
const PACKED_GROUP: usize = 48;
/// From this many queries per thread on, threads split the queries rather than the catalogue
/// (two packed groups each, so the packed kernel still runs on full groups).
const QUERY_SPLIT_MIN: usize = 2 * PACKED_GROUP;

/// Similarity measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Inner product.
    Dot,
    /// Inner product of L2-normalised vectors (zero vectors score 0).
    Cosine,
    /// Cosine of mean-centred vectors (constant vectors score 0).
    Pearson,
}

impl Metric {
    pub fn parse(name: &str) -> Option<Metric> {
        match name {
            "dot" => Some(Metric::Dot),
            "cosine" => Some(Metric::Cosine),
            "pearson" => Some(Metric::Pearson),
            _ => None,
        }
    }
}

/// Per-query item indices to skip, sorted and deduplicated.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    lists: Vec<Vec<usize>>,
}

impl Exclusions {
    /// From CSR form: query `q` excludes `indices[indptr[q]..indptr[q + 1]]`.
    pub fn from_csr(indptr: &[i64], indices: &[i64], queries: usize, n: usize) -> Result<Self, CoreError> {
        if indptr.len() != queries + 1 {
            return Err(CoreError::ExcludeLength { expected: queries, got: indptr.len().saturating_sub(1) });
        }
        let mut lists = Vec::with_capacity(queries);
        for q in 0..queries {
            let (lo, hi) = (indptr[q], indptr[q + 1]);
            if lo < 0 || hi < lo || hi as u64 > indices.len() as u64 {
                return Err(CoreError::Shape {
                    array: ArrayName::Queries,
                    detail: format!("exclude offsets are not a valid CSR index at query {q}"),
                });
            }
            let mut list = Vec::with_capacity((hi - lo) as usize);
            for &index in &indices[lo as usize..hi as usize] {
                if index < 0 || index as u64 >= n as u64 {
                    return Err(CoreError::ExcludeOutOfRange { query: q, index, n });
                }
                list.push(index as usize);
            }
            list.sort_unstable();
            list.dedup();
            lists.push(list);
        }
        Ok(Exclusions { lists })
    }

    /// Per-query lists (already validated).
    pub fn from_lists(mut lists: Vec<Vec<usize>>) -> Self {
        for list in &mut lists {
            list.sort_unstable();
            list.dedup();
        }
        Exclusions { lists }
    }

    /// How many queries these lists are for.
    pub fn queries(&self) -> usize {
        self.lists.len()
    }

    /// The sorted item indices query `q` excludes.
    pub fn for_query(&self, q: usize) -> &[usize] {
        &self.lists[q]
    }
}

/// One top-k request over row-major float32 matrices.
#[derive(Debug, Clone, Copy)]
pub struct TopkRequest<'a> {
    /// (b, dim) row-major.
    pub queries: &'a [f32],
    pub query_shape: (usize, usize),
    /// (n, dim) row-major.
    pub catalog: &'a [f32],
    pub catalog_shape: (usize, usize),
    pub k: usize,
    pub metric: Metric,
    /// Inputs are already prepared for the metric (unit rows for cosine, centred unit rows for
    /// Pearson): skip the per-row normalisation.
    pub normalized: bool,
    pub exclude: Option<&'a Exclusions>,
    /// None = all cores, Some(1) = the calling thread only.
    pub threads: Option<usize>,
    pub kernel: &'static KernelImpl,
}

/// `scores`/`indices` are (rows, k) row-major; padding is (-inf, -1).
#[derive(Debug, Clone, PartialEq)]
pub struct TopkResult {
    pub rows: usize,
    pub k: usize,
    pub scores: Vec<f32>,
    pub indices: Vec<i64>,
}

/// Catalogue rows per block for dimension `d` (a multiple of 32 = two 16-row panels).
pub fn chunk_rows(d: usize) -> usize {
    ((BLOCK_BYTES / (4 * d.max(1))).clamp(32, 8192)) & !31
}

/// Check a (rows, dim) buffer.
pub(crate) fn check_matrix(data: &[f32], shape: (usize, usize), array: ArrayName) -> Result<(), CoreError> {
    let (rows, dim) = shape;
    if dim == 0 {
        return Err(CoreError::Shape { array, detail: "vectors must have at least one dimension".into() });
    }
    if rows.checked_mul(dim) != Some(data.len()) {
        return Err(CoreError::Shape { array, detail: format!("buffer of {} values is not {rows} x {dim}", data.len()) });
    }
    Ok(())
}

/// A catalogue must have rows, and no more than a [`TopK`] can index.
pub(crate) fn check_catalog_rows(n: usize) -> Result<(), CoreError> {
    if n == 0 {
        return Err(CoreError::EmptyCatalog);
    }
    if n - 1 > TopK::MAX_INDEX {
        return Err(CoreError::InvalidArgument(format!(
            "catalog has {n} rows; at most {} fit one search (split it)",
            TopK::MAX_INDEX as u64 + 1
        )));
    }
    Ok(())
}

/// Exact top-k of every query against the catalogue.
pub fn topk(req: &TopkRequest<'_>) -> Result<TopkResult, CoreError> {
    check_matrix(req.queries, req.query_shape, ArrayName::Queries)?;
    check_matrix(req.catalog, req.catalog_shape, ArrayName::Catalog)?;
    let (b, d) = req.query_shape;
    let (n, dc) = req.catalog_shape;
    if d != dc {
        return Err(CoreError::DimensionMismatch { queries: d, catalog: dc });
    }
    if req.k == 0 {
        return Err(CoreError::InvalidK(0));
    }
    check_catalog_rows(n)?;
    if let Some(ex) = req.exclude {
        if ex.lists.len() != b {
            return Err(CoreError::ExcludeLength { expected: b, got: ex.lists.len() });
        }
    }
    if let Some((row, col)) = find_non_finite(req.queries, d) {
        return Err(CoreError::NonFinite { array: ArrayName::Queries, row, col });
    }
    let kp = req.k.min(n);
    let mut par = parallelism(req.threads)?;
    if b.saturating_mul(n).saturating_mul(d) < SERIAL_WORK {
        // Waking a pool costs microseconds; tiny searches finish sooner on the calling thread.
        par = Parallelism::Serial;
    }
    let queries = prepare_queries(req.queries, d, req.metric, req.normalized);
    let scan = Scan { req, d, kp, chunk: chunk_rows(d) };

    let (heaps, non_finite) = par.run(|threads| scan.run(&queries, threads));
    if non_finite {
        // Queries were checked above, so either the catalogue holds NaN/inf or a score overflowed.
        if let Some((row, col)) = find_non_finite(req.catalog, d) {
            return Err(CoreError::NonFinite { array: ArrayName::Catalog, row, col });
        }
        if req.metric == Metric::Dot || req.normalized {
            return Err(CoreError::ScoreOverflow);
        }
        // Cosine/Pearson are bounded, but unscaled rows of huge values overflow the raw inner
        // product. Rare: pay for a prepared copy of the catalogue and scan that instead.
        let centre = req.metric == Metric::Pearson;
        let (catalog, queries) = (prepare_rows(req.catalog, d, centre), prepare_rows(req.queries, d, centre));
        return topk(&TopkRequest { catalog: &catalog, queries: &queries, normalized: true, ..*req });
    }

    let mut scores = Vec::with_capacity(b * kp);
    let mut indices = Vec::with_capacity(b * kp);
    for heap in heaps {
        let kept = heap.into_sorted();
        let pad = kp - kept.len();
        for item in kept {
            scores.push(item.score);
            indices.push(item.index as i64);
        }
        scores.extend(std::iter::repeat_n(f32::NEG_INFINITY, pad));
        indices.extend(std::iter::repeat_n(-1i64, pad));
    }
    Ok(TopkResult { rows: b, k: kp, scores, indices })
}

/// Queries scaled so the kernel's inner product is already the metric (catalogue rows are
/// scaled per block instead, so a catalogue is never copied).
fn prepare_queries(queries: &[f32], d: usize, metric: Metric, normalized: bool) -> Cow<'_, [f32]> {
    match (metric, normalized) {
        (Metric::Dot, _) | (_, true) => Cow::Borrowed(queries),
        (Metric::Cosine, false) => Cow::Owned(prepare_rows(queries, d, false)),
        (Metric::Pearson, false) => Cow::Owned(prepare_rows(queries, d, true)),
    }
}

struct Scan<'r, 'a> {
    req: &'r TopkRequest<'a>,
    d: usize,
    kp: usize,
    chunk: usize,
}

/// Reusable per-thread buffers.
#[derive(Default)]
struct Buffers {
    scores: Vec<f32>,
    scales: Vec<f32>,
    panels: Vec<f32>,
    thresholds: Vec<f32>,
    hits: Vec<bool>,
}

impl Scan<'_, '_> {
    /// Heaps for every query, in order, and whether a non-finite score was seen.
    fn run(&self, queries: &[f32], threads: usize) -> (Vec<TopK>, bool) {
        let (b, n) = (self.req.query_shape.0, self.req.catalog_shape.0);
        let tile_len = QUERY_TILE * self.d;
        let tiles: Vec<(usize, &[f32])> =
            queries.chunks(tile_len).enumerate().map(|(t, q)| (t * QUERY_TILE, q)).collect();

        if threads <= 1 {
            let mut buffers = Buffers::default();
            let mut out = Vec::with_capacity(b);
            let mut bad = false;
            for &(first, tile) in &tiles {
                let mut heaps = self.new_heaps(tile.len() / self.d);
                bad |= self.scan(tile, first, 0..n, &mut heaps, &mut buffers);
                out.extend(heaps);
            }
            return (out, bad);
        }

        let blocks = n.div_ceil(self.chunk);
        if b >= QUERY_SPLIT_MIN * threads {
            // Enough queries for every thread: each scans the whole catalogue for its own share
            // of them. Splitting the catalogue instead gives every part its own best k for every
            // query, each part's threshold starting at -inf: at k = 200 over 100k rows, 8 parts
            // admitted several times the candidates of one scan, and 2 threads ran slower than 1.
            let share = (b.div_ceil(2 * threads).div_ceil(PACKED_GROUP) * PACKED_GROUP).min(QUERY_TILE);
            let mut groups: Vec<(usize, &[f32])> =
                queries.chunks(share * self.d).enumerate().map(|(t, q)| (t * share, q)).collect();
            // A short last group joins the one before: every query then goes through the packed
            // kernel, as in a whole tile, so its scores are the same bits whatever the split.
            if groups.len() > 1 && groups[groups.len() - 1].1.len() / self.d < PACK_MIN_QUERIES {
                groups.pop();
                let (first, _) = groups.pop().unwrap();
                groups.push((first, &queries[first * self.d..]));
            }
            return self.whole_scans(&groups, n);
        }
        if blocks < 2 * threads {
            // A catalogue too small to share out: threads take whole query tiles instead.
            return self.whole_scans(&tiles, n);
        }

        // Split the catalogue: each block is read (and packed) once per query tile, and 4 ranges
        // per thread smooth out uneven progress.
        let parts = (threads * 4).min(blocks).max(1);
        let mut out = Vec::with_capacity(b);
        let mut bad = false;
        for &(first, tile) in &tiles {
            let nq = tile.len() / self.d;
            let (heaps, tile_bad) = (0..parts)
                .into_par_iter()
                .map_init(Buffers::default, |buffers, part| {
                    // Range boundaries on block multiples keep blocks whole.
                    let lo = (blocks * part / parts * self.chunk).min(n);
                    let hi = (blocks * (part + 1) / parts * self.chunk).min(n);
                    let mut heaps = self.new_heaps(nq);
                    let bad = self.scan(tile, first, lo..hi, &mut heaps, buffers);
                    (heaps, bad)
                })
                .reduce_with(|(mut left, lbad), (right, rbad)| {
                    for (l, r) in left.iter_mut().zip(right) {
                        l.merge(r);
                    }
                    (left, lbad || rbad)
                })
                .unwrap_or_else(|| (self.new_heaps(nq), false));
            bad |= tile_bad;
            out.extend(heaps);
        }
        (out, bad)
    }

    /// Each group of queries scans the whole catalogue on a thread of its own; heaps in query order.
    fn whole_scans(&self, groups: &[(usize, &[f32])], n: usize) -> (Vec<TopK>, bool) {
        let parts: Vec<(Vec<TopK>, bool)> = groups
            .par_iter()
            .map_init(Buffers::default, |buffers, &(first, group)| {
                let mut heaps = self.new_heaps(group.len() / self.d);
                let bad = self.scan(group, first, 0..n, &mut heaps, buffers);
                (heaps, bad)
            })
            .collect();
        let bad = parts.iter().any(|(_, bad)| *bad);
        (parts.into_iter().flat_map(|(heaps, _)| heaps).collect(), bad)
    }

    fn scaled(&self) -> bool {
        !(self.req.normalized || self.req.metric == Metric::Dot)
    }

    fn excluded(&self, query: usize) -> &[usize] {
        self.req.exclude.map(|ex| ex.for_query(query)).unwrap_or(&[])
    }

    fn new_heaps(&self, count: usize) -> Vec<TopK> {
        (0..count).map(|_| TopK::new(self.kp)).collect()
    }

    /// Scan catalogue `rows` for one query tile (`first` = index of its first query).
    /// Returns true if a non-finite score was produced.
    fn scan(&self, tile: &[f32], first: usize, rows: Range<usize>, heaps: &mut [TopK], buffers: &mut Buffers) -> bool {
        let d = self.d;
        let nq = tile.len() / d;
        let req = self.req;
        let scaled = self.scaled();
        let mut bad = false;
        let mut start = rows.start;
        while start < rows.end {
            let end = (start + self.chunk).min(rows.end);
            let nr = end - start;
            let block = &req.catalog[start * d..end * d];
            if scaled {
                row_scales(block, d, req.metric, req.kernel, &mut buffers.scales);
            }
            match req.kernel.packed {
                Some((packed_tile, width)) if nq >= PACK_MIN_QUERIES => {
                    (req.kernel.pack)(block, d, width, &mut buffers.panels);
                    let ldo = buffers.panels.len() / d;
                    let n_panels = ldo / width;
                    if scaled {
                        buffers.scales.resize(ldo, 0.0); // padding rows: scale 0
                    }
                    // The next block of this range, shared out between the groups' kernels so
                    // its read from memory overlaps this block's FMAs.
                    let next = &req.catalog[end * d..(end + self.chunk).min(rows.end).max(end) * d];
                    let share = next.len().div_ceil(nq.div_ceil(PACKED_GROUP)).max(1);
                    for g in (0..nq).step_by(PACKED_GROUP) {
                        let m = PACKED_GROUP.min(nq - g);
                        let lo = (g / PACKED_GROUP * share).min(next.len());
                        let prefetch = &next[lo..(lo + share).min(next.len())];
                        buffers.scores.resize(m * ldo, 0.0);
                        buffers.hits.resize(m * n_panels, false);
                        buffers.thresholds.clear();
                        buffers.thresholds.extend(heaps[g..g + m].iter().map(TopK::threshold));
                        packed_tile(&mut PackedTile {
                            queries: &tile[g * d..(g + m) * d],
                            panels: &buffers.panels,
                            d,
                            scales: if scaled { &buffers.scales } else { &[] },
                            thresholds: &buffers.thresholds,
                            out: &mut buffers.scores,
                            ldo,
                            hits: &mut buffers.hits,
                            prefetch,
                        });
                        for qi in 0..m {
                            let excluded = self.excluded(first + g + qi);
                            let heap = &mut heaps[g + qi];
                            for p in 0..n_panels {
                                if !buffers.hits[qi * n_panels + p] {
                                    continue;
                                }
                                let (lo, hi) = (p * width, ((p + 1) * width).min(nr));
                                if lo >= hi {
                                    continue;
                                }
                                let scores = &buffers.scores[qi * ldo + lo..qi * ldo + hi];
                                // Already scaled by the kernel.
                                bad |= consume::<false>(scores, &[], start + lo, excluded, heap);
                            }
                        }
                    }
                }
                _ => {
                    buffers.scores.resize(nq * nr, 0.0);
                    (req.kernel.tile)(tile, block, d, &mut buffers.scores[..nq * nr]);
                    let scales: &[f32] = if scaled { &buffers.scales } else { &[] };
                    for (qi, heap) in heaps.iter_mut().enumerate() {
                        let scores = &buffers.scores[qi * nr..(qi + 1) * nr];
                        let excluded = self.excluded(first + qi);
                        bad |= if scaled {
                            consume::<true>(scores, scales, start, excluded, heap)
                        } else {
                            consume::<false>(scores, scales, start, excluded, heap)
                        };
                    }
                }
            }
            start = end;
        }
        bad
    }
}

/// Feed one query's block of scores to its heap. The common case (score below the current
/// k-th best) costs one comparison; NaN and +-inf fail `s <= thr` or hit the -inf test, so they
/// reach the slow path and are reported instead of silently dropped.
#[inline]
#[allow(clippy::neg_cmp_op_on_partial_ord)] // `!(s <= thr)` is deliberate: it is true for NaN.
pub(crate) fn consume<const SCALED: bool>(scores: &[f32], scales: &[f32], start: usize, excluded: &[usize], heap: &mut TopK) -> bool {
    const LANES: usize = 16;
    let mut thr = heap.threshold();
    let mut bad = false;
    for (c, chunk) in scores.chunks(LANES).enumerate() {
        let base = c * LANES;
        // Branch-free pre-check of a whole chunk (vectorises); nearly every chunk stops here
        // once the heap is full.
        let mut hit = false;
        for (j, &raw) in chunk.iter().enumerate() {
            let s = if SCALED { raw * scales[base + j] } else { raw };
            hit |= !(s <= thr) | (s == f32::NEG_INFINITY);
        }
        if !hit {
            continue;
        }
        for (j, &raw) in chunk.iter().enumerate() {
            let s = if SCALED { raw * scales[base + j] } else { raw };
            if !(s <= thr) || s == f32::NEG_INFINITY {
                if !s.is_finite() {
                    bad = true;
                    continue;
                }
                let index = start + base + j;
                if !excluded.is_empty() && excluded.binary_search(&index).is_ok() {
                    continue;
                }
                heap.push(Scored { score: s, index });
                thr = heap.threshold();
            }
        }
    }
    bad
}

/// Per-row factor that turns the raw inner product with a prepared query into the metric:
/// 1/|row| for cosine, 1/|row - mean| for Pearson (0 for a zero/constant row, NaN for a row
/// with NaN/inf so the score is flagged).
fn row_scales(block: &[f32], d: usize, metric: Metric, kernel: &KernelImpl, out: &mut Vec<f32>) {
    out.clear();
    for row in block.chunks_exact(d) {
        let scale = match metric {
            Metric::Cosine => {
                let ss = (kernel.dot)(row, row);
                // The f32 sum is exact enough unless it under/overflowed; then redo it in f64.
                if ss.is_finite() && ss > 1e-30 {
                    1.0 / ss.sqrt()
                } else {
                    crate::ops::inverse_norm_f64(row, false)
                }
            }
            Metric::Pearson => crate::ops::inverse_norm_f64(row, true),
            Metric::Dot => 1.0,
        };
        out.push(scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{kernel_impl, supported_kernels};

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// Brute force: every score in f64, sorted by (score desc, index asc).
    fn brute(q: &[f32], c: &[f32], d: usize, k: usize, metric: Metric, excl: &[Vec<usize>]) -> Vec<Vec<(f64, usize)>> {
        let prep = |v: &[f32]| -> Vec<f64> {
            let mut v: Vec<f64> = v.iter().map(|x| *x as f64).collect();
            if metric == Metric::Pearson {
                let m = v.iter().sum::<f64>() / d as f64;
                v.iter_mut().for_each(|x| *x -= m);
            }
            if metric != Metric::Dot {
                let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                v.iter_mut().for_each(|x| *x = if norm > 0.0 { *x / norm } else { 0.0 });
            }
            v
        };
        q.chunks(d)
            .enumerate()
            .map(|(qi, qv)| {
                let qv = prep(qv);
                let mut all: Vec<(f64, usize)> = c
                    .chunks(d)
                    .enumerate()
                    .filter(|(j, _)| !excl.get(qi).is_some_and(|e| e.contains(j)))
                    .map(|(j, cv)| (prep(cv).iter().zip(&qv).map(|(a, b)| a * b).sum(), j))
                    .collect();
                all.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
                all.truncate(k);
                all
            })
            .collect()
    }

    #[test]
    #[allow(clippy::needless_range_loop)] // qi indexes three parallel structures
    fn matches_brute_force_for_every_kernel_metric_and_thread_count() {
        let mut seed = 11;
        for kind in supported_kernels() {
            let kernel = kernel_impl(kind).unwrap();
            // the last two: enough queries that threads split them (QUERY_SPLIT_MIN)
            for &(b, n, d, k) in &[(1usize, 50usize, 7usize, 5usize), (3, 300, 33, 10), (70, 200, 16, 3), (9, 1000, 384, 20), (2, 5, 4, 9),
                                    (400, 3000, 24, 50), (300, 700, 64, 200)] {
                let q: Vec<f32> = (0..b * d).map(|_| lcg(&mut seed)).collect();
                let c: Vec<f32> = (0..n * d).map(|_| lcg(&mut seed)).collect();
                let excl: Vec<Vec<usize>> = (0..b).map(|i| vec![i % n, (i * 7 + 3) % n]).collect();
                let exclusions = Exclusions::from_lists(excl.clone());
                for metric in [Metric::Dot, Metric::Cosine, Metric::Pearson] {
                    for threads in [Some(1), Some(2), Some(3), None] {
                        for use_excl in [false, true] {
                            let req = TopkRequest {
                                queries: &q,
                                query_shape: (b, d),
                                catalog: &c,
                                catalog_shape: (n, d),
                                k,
                                metric,
                                normalized: false,
                                exclude: use_excl.then_some(&exclusions),
                                threads,
                                kernel,
                            };
                            let got = topk(&req).unwrap();
                            let want = brute(&q, &c, d, k, metric, if use_excl { &excl } else { &[] });
                            let kp = k.min(n);
                            assert_eq!((got.rows, got.k), (b, kp));
                            for qi in 0..b {
                                for (r, &(ws, wi)) in want[qi].iter().enumerate() {
                                    let gs = got.scores[qi * kp + r] as f64;
                                    assert!((gs - ws).abs() < 1e-4, "{kind:?} {metric:?} score {gs} vs {ws}");
                                    // Ids must agree unless the brute-force neighbours are near-ties.
                                    let near_tie = want[qi].iter().any(|&(s, i)| i != wi && (s - ws).abs() < 1e-5);
                                    if !near_tie {
                                        assert_eq!(got.indices[qi * kp + r], wi as i64, "{kind:?} {metric:?} {threads:?}");
                                    }
                                }
                                for r in want[qi].len()..kp {
                                    assert_eq!(got.indices[qi * kp + r], -1);
                                    assert_eq!(got.scores[qi * kp + r], f32::NEG_INFINITY);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn exact_ties_go_to_the_lower_index_across_threads() {
        let d = 64;
        let n = 5000;
        // Every row identical: all scores tie; the answer must be 0..k whatever the split.
        // (2 x 5000 x 64 is above SERIAL_WORK, so the threads really split the catalogue.)
        assert!(2 * n * d >= SERIAL_WORK);
        let c = vec![0.5f32; n * d];
        let q = vec![1.0f32; 2 * d];
        for threads in [Some(1), Some(2), Some(4)] {
            let req = TopkRequest {
                queries: &q,
                query_shape: (2, d),
                catalog: &c,
                catalog_shape: (n, d),
                k: 7,
                metric: Metric::Dot,
                normalized: false,
                exclude: None,
                threads,
                kernel: crate::kernels::active(),
            };
            let got = topk(&req).unwrap();
            assert_eq!(&got.indices[..7], &[0, 1, 2, 3, 4, 5, 6]);
            assert_eq!(&got.indices[7..], &[0, 1, 2, 3, 4, 5, 6]);
        }
    }

    #[test]
    fn non_finite_catalogue_and_overflow_are_reported() {
        let d = 4;
        let q = vec![1.0f32; d];
        let mut c = vec![0.25f32; 40 * d];
        c[17 * d + 2] = f32::NAN;
        let mut req = TopkRequest {
            queries: &q,
            query_shape: (1, d),
            catalog: &c,
            catalog_shape: (40, d),
            k: 3,
            metric: Metric::Cosine,
            normalized: false,
            exclude: None,
            threads: Some(1),
            kernel: crate::kernels::active(),
        };
        assert_eq!(topk(&req), Err(CoreError::NonFinite { array: ArrayName::Catalog, row: 17, col: 2 }));
        let big = vec![3e38f32; 40 * d];
        req.catalog = &big;
        req.metric = Metric::Dot;
        assert_eq!(topk(&req), Err(CoreError::ScoreOverflow));
        // Cosine and Pearson of huge vectors are fine (bounded), via the prepared-copy path.
        let mut varied = big.clone();
        varied[5] = 1e38;
        req.catalog = &varied;
        for metric in [Metric::Cosine, Metric::Pearson] {
            req.metric = metric;
            let got = topk(&req).unwrap();
            assert!(got.scores.iter().all(|s| s.abs() <= 1.0 + 1e-6), "{metric:?} {:?}", got.scores);
        }
    }

    #[test]
    fn bad_requests_are_errors() {
        let q = vec![1.0f32; 4];
        let c = vec![1.0f32; 8];
        let base = TopkRequest {
            queries: &q,
            query_shape: (1, 4),
            catalog: &c,
            catalog_shape: (2, 4),
            k: 1,
            metric: Metric::Dot,
            normalized: false,
            exclude: None,
            threads: Some(1),
            kernel: crate::kernels::active(),
        };
        assert_eq!(topk(&TopkRequest { k: 0, ..base }), Err(CoreError::InvalidK(0)));
        assert!(matches!(topk(&TopkRequest { catalog_shape: (4, 2), ..base }), Err(CoreError::DimensionMismatch { .. })));
        assert_eq!(topk(&TopkRequest { catalog: &[], catalog_shape: (0, 4), ..base }), Err(CoreError::EmptyCatalog));
        assert_eq!(topk(&TopkRequest { threads: Some(0), ..base }), Err(CoreError::InvalidThreads(0)));
        assert!(matches!(
            Exclusions::from_csr(&[0, 1], &[2], 1, 2),
            Err(CoreError::ExcludeOutOfRange { query: 0, index: 2, n: 2 })
        ));
        let huge = topk(&TopkRequest { k: usize::MAX, ..base }).unwrap();
        assert_eq!(huge.k, 2);
    }
}
