//! A compressed similarity index: int8 or bf16 codes in memory, scanned by a fused SIMD pass
//! that keeps each query's best `S` candidates (the shortlist), followed by an exact float32
//! re-rank of those `S` rows with coldkit's float32 kernel. The returned top-k therefore holds
//! exact float32 scores, ordered as [`crate::topk`] orders them, whenever the true top-k lies
//! inside the shortlist (the default size is measured in `docs/quantized.md`).
//!
//! Scores the quantised scan ranks by:
//! * int8, per-vector scale `s_i = max|x_i| / 127`: `s_i * <code_i, code_q>`;
//! * int8, per-dimension scale `s_t = max_i |x_it| / 127`: the scale is folded into the query
//!   (`q'_t = q_t * s_t`, then quantised), so the score is `<code_i, code_q'>`;
//! * bf16: `<bf16(x_i), bf16(q)>`.
//!
//! The query's own quantisation scale multiplies every score of that query equally, so it is
//! left out. For `cosine`, rows (and queries) are L2-normalised before quantisation.

pub mod kernels;
#[cfg(target_arch = "aarch64")]
mod neon;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::borrow::Cow;
use std::ops::Range;

use rayon::prelude::*;

pub use kernels::{bf16_to_f32, f32_to_bf16, Bf16Query, Int8Query, QuantKernel, Storage};

use crate::error::{ArrayName, CoreError};
use crate::heap::TopK;
use crate::kernels::KernelImpl;
use crate::ops::{find_non_finite, inverse_norm_f64, prepare_rows};
use crate::threads::{parallelism, Parallelism};
use crate::topk::{check_catalog_rows, check_matrix, consume, topk, Exclusions, Metric, TopkRequest, TopkResult};

/// Bytes of codes per scanned block (stays in L2 while every query of the batch meets it).
const BLOCK_BYTES: usize = 256 * 1024;
/// Below this many multiply-adds (b * n * d) a search runs on the calling thread.
const SERIAL_WORK: usize = 1 << 20;
/// Largest dimension for int8: `255 * 127 * d` must fit in an i32 accumulator.
pub const MAX_INT8_DIM: usize = 65_536;

/// How int8 codes are scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleMode {
    /// One scale per catalogue row (`max|x_i| / 127`).
    PerVector,
    /// One scale per dimension (`max_i |x_it| / 127`).
    PerDimension,
}

impl ScaleMode {
    pub fn name(self) -> &'static str {
        match self {
            ScaleMode::PerVector => "per-vector",
            ScaleMode::PerDimension => "per-dimension",
        }
    }

    pub fn parse(name: &str) -> Result<ScaleMode, CoreError> {
        match name {
            "per-vector" => Ok(ScaleMode::PerVector),
            "per-dimension" => Ok(ScaleMode::PerDimension),
            other => Err(CoreError::InvalidArgument(format!(
                "unknown scale {other:?}; expected 'per-vector' or 'per-dimension'"
            ))),
        }
    }
}

/// The compressed rows.
#[derive(Debug, Clone)]
enum Codes {
    /// Codes in `-127..=127`, row-major, and each row's code sum (for the VNNI offset trick).
    Int8 { codes: Vec<i8>, rowsums: Vec<i32> },
    /// bfloat16 bit patterns, row-major.
    Bf16(Vec<u16>),
}

/// The default shortlist for `k` results: `max(4k, k + 32)`, justified by the recall
/// measurements in `docs/quantized.md`.
pub fn default_shortlist(k: usize) -> usize {
    k.saturating_mul(4).max(k.saturating_add(32))
}

/// A compressed, searchable copy of a catalogue (the float32 catalogue itself is passed to
/// every search for the re-rank, so it may live in a memory-mapped file).
#[derive(Debug, Clone)]
pub struct QuantizedIndex {
    storage: Storage,
    scale_mode: ScaleMode,
    metric: Metric,
    normalized: bool,
    n: usize,
    d: usize,
    codes: Codes,
    /// int8 per-vector: n scales; int8 per-dimension: d scales; bf16: empty.
    scales: Vec<f32>,
}

/// One search of a [`QuantizedIndex`].
#[derive(Debug, Clone, Copy)]
pub struct QuantSearch<'a> {
    /// (b, d) row-major.
    pub queries: &'a [f32],
    pub query_shape: (usize, usize),
    /// The float32 catalogue the index was built from, (n, d) row-major, for the re-rank.
    pub exact: &'a [f32],
    pub exact_shape: (usize, usize),
    pub k: usize,
    /// Candidates kept per query by the quantised scan (None = [`default_shortlist`]).
    pub shortlist: Option<usize>,
    pub exclude: Option<&'a Exclusions>,
    /// None = all cores, Some(1) = the calling thread only.
    pub threads: Option<usize>,
    /// The quantised kernel (None = the best for this CPU).
    pub kernel: Option<QuantKernel>,
    /// The float32 kernel of the re-rank.
    pub exact_kernel: &'static KernelImpl,
}

fn check_metric(metric: Metric) -> Result<(), CoreError> {
    match metric {
        Metric::Dot | Metric::Cosine => Ok(()),
        Metric::Pearson => Err(CoreError::InvalidArgument("the quantised index supports metric 'cosine' or 'dot'".into())),
    }
}

/// Row `row` of `data` prepared for the metric, into `out`.
fn prepared_row(row: &[f32], metric: Metric, normalized: bool, out: &mut Vec<f32>) {
    out.clear();
    if metric == Metric::Cosine && !normalized {
        let inv = inverse_norm_f64(row, false);
        out.extend(row.iter().map(|&x| ((x as f64) * inv as f64) as f32));
    } else {
        out.extend_from_slice(row);
    }
}

/// Symmetric int8 quantisation of `values` with `reciprocal = 127 / max|x|`.
#[inline]
fn quantize_into(values: impl Iterator<Item = f32>, reciprocal: f32, out: &mut [i8]) {
    for (v, slot) in values.zip(out.iter_mut()) {
        *slot = (v * reciprocal).round_ties_even().clamp(-127.0, 127.0) as i8;
    }
}

fn max_abs(values: &[f32]) -> f32 {
    values.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// `127 / max` (0 for an all-zero input, whose codes are then all zero).
fn reciprocal(max: f32) -> f32 {
    if max > 0.0 {
        let r = 127.0 / max;
        if r.is_finite() {
            r
        } else {
            // Subnormal-sized rows: scale in f64 so the reciprocal stays finite.
            (127.0f64 / max as f64).min(f32::MAX as f64) as f32
        }
    } else {
        0.0
    }
}

/// `row` times the power of two that brings its largest |value| into [1, 2) (a zero row as it
/// is). A query's approximate scores all scale by the same positive factor, so its shortlist is
/// unchanged, and a power of two rounds nothing for normal values: the int8 codes are bit for bit
/// those of the unscaled row. What it prevents: a tiny query (|q| ~ 1e-20) made products below
/// f32's normal range, which the AVX-512 BF16 instruction flushes to zero (and the int8
/// reciprocal `127 / max` overflowed float32 below |q| ~ 4e-37), so every item scored 0 and the
/// "shortlist" was the first rows of the catalogue: a silently wrong top-k.
fn scaled_to_unit(row: &[f32], out: &mut Vec<f32>) {
    let max = max_abs(row);
    out.clear();
    if max > 0.0 {
        // Every f32 (subnormals too) is a normal f64: read the exponent off its bits.
        let exponent = (((max as f64).to_bits() >> 52) & 0x7ff) as i64 - 1023;
        let factor = f64::from_bits(((1023 - exponent) as u64) << 52);
        out.extend(row.iter().map(|&v| (v as f64 * factor) as f32));
    } else {
        out.extend_from_slice(row);
    }
}

/// Run `f` over `items` with rayon when `par` has more than one thread, else serially.
fn for_each_chunk<T: Send>(par: &Parallelism, items: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) {
    par.run(|threads| {
        if threads <= 1 {
            items.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
        } else {
            items.par_chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
        }
    })
}

impl QuantizedIndex {
    /// Compress a (n, d) float32 catalogue.
    pub fn build(
        catalog: &[f32],
        shape: (usize, usize),
        storage: Storage,
        scale_mode: ScaleMode,
        metric: Metric,
        normalized: bool,
        threads: Option<usize>,
    ) -> Result<Self, CoreError> {
        check_metric(metric)?;
        check_matrix(catalog, shape, ArrayName::Catalog)?;
        let (n, d) = shape;
        check_catalog_rows(n)?;
        if storage == Storage::Int8 && d > MAX_INT8_DIM {
            return Err(CoreError::InvalidArgument(format!("int8 codes support at most {MAX_INT8_DIM} dimensions, got {d}")));
        }
        if let Some((row, col)) = find_non_finite(catalog, d) {
            return Err(CoreError::NonFinite { array: ArrayName::Catalog, row, col });
        }
        let par = parallelism(threads)?;
        const ROWS_PER_TASK: usize = 1024;
        let (codes, scales) = match (storage, scale_mode) {
            (Storage::Int8, ScaleMode::PerVector) => {
                let mut codes = vec![0i8; n * d];
                let mut scales = vec![0.0f32; n];
                let mut rows: Vec<(&mut [i8], &mut f32)> = codes.chunks_mut(d).zip(scales.iter_mut()).collect();
                for_each_chunk(&par, &mut rows, ROWS_PER_TASK, |task, chunk| {
                    let mut buf = Vec::with_capacity(d);
                    for (r, (out, scale)) in chunk.iter_mut().enumerate() {
                        let i = task * ROWS_PER_TASK + r;
                        prepared_row(&catalog[i * d..(i + 1) * d], metric, normalized, &mut buf);
                        let max = max_abs(&buf);
                        **scale = max / 127.0;
                        quantize_into(buf.iter().copied(), reciprocal(max), out);
                    }
                });
                drop(rows);
                (codes, scales)
            }
            (Storage::Int8, ScaleMode::PerDimension) => {
                // Pass 1: per-dimension maxima of the prepared rows.
                let mut maxima = vec![0.0f32; d];
                let mut buf = Vec::with_capacity(d);
                for row in catalog.chunks_exact(d) {
                    prepared_row(row, metric, normalized, &mut buf);
                    for (m, v) in maxima.iter_mut().zip(&buf) {
                        *m = m.max(v.abs());
                    }
                }
                let reciprocals: Vec<f32> = maxima.iter().map(|&m| reciprocal(m)).collect();
                let scales: Vec<f32> = maxima.iter().map(|&m| m / 127.0).collect();
                let mut codes = vec![0i8; n * d];
                let mut rows: Vec<&mut [i8]> = codes.chunks_mut(d).collect();
                for_each_chunk(&par, &mut rows, ROWS_PER_TASK, |task, chunk| {
                    let mut buf = Vec::with_capacity(d);
                    for (r, out) in chunk.iter_mut().enumerate() {
                        let i = task * ROWS_PER_TASK + r;
                        prepared_row(&catalog[i * d..(i + 1) * d], metric, normalized, &mut buf);
                        quantize_into(buf.iter().zip(&reciprocals).map(|(v, r)| v * r), 1.0, out);
                    }
                });
                drop(rows);
                (codes, scales)
            }
            (Storage::Bf16, _) => {
                let mut codes = vec![0u16; n * d];
                let mut rows: Vec<&mut [u16]> = codes.chunks_mut(d).collect();
                for_each_chunk(&par, &mut rows, ROWS_PER_TASK, |task, chunk| {
                    let mut buf = Vec::with_capacity(d);
                    for (r, out) in chunk.iter_mut().enumerate() {
                        let i = task * ROWS_PER_TASK + r;
                        prepared_row(&catalog[i * d..(i + 1) * d], metric, normalized, &mut buf);
                        for (slot, &v) in out.iter_mut().zip(&buf) {
                            *slot = f32_to_bf16(v);
                        }
                    }
                });
                drop(rows);
                let index = QuantizedIndex { storage, scale_mode, metric, normalized, n, d, codes: Codes::Bf16(codes), scales: Vec::new() };
                return Ok(index);
            }
        };
        let rowsums = row_sums(&codes, d);
        Ok(QuantizedIndex { storage, scale_mode, metric, normalized, n, d, codes: Codes::Int8 { codes, rowsums }, scales })
    }

    /// An int8 index from saved parts, validated (codes in `-127..=127`, finite scales >= 0 of
    /// the right length). Row sums are recomputed, never trusted from disk.
    pub fn from_int8_parts(
        codes: Vec<i8>,
        shape: (usize, usize),
        scales: Vec<f32>,
        scale_mode: ScaleMode,
        metric: Metric,
        normalized: bool,
    ) -> Result<Self, CoreError> {
        check_metric(metric)?;
        let (n, d) = shape;
        Self::check_parts_shape(codes.len(), shape)?;
        if d > MAX_INT8_DIM {
            return Err(CoreError::InvalidArgument(format!("int8 codes support at most {MAX_INT8_DIM} dimensions, got {d}")));
        }
        if let Some(pos) = codes.iter().position(|&c| c == i8::MIN) {
            return Err(CoreError::InvalidArgument(format!(
                "corrupted int8 codes: value -128 at row {}, column {} (codes lie in -127..=127)",
                pos / d,
                pos % d
            )));
        }
        let want = match scale_mode {
            ScaleMode::PerVector => n,
            ScaleMode::PerDimension => d,
        };
        if scales.len() != want {
            return Err(CoreError::InvalidArgument(format!(
                "corrupted scales: {} {} scales expected, got {}",
                want,
                scale_mode.name(),
                scales.len()
            )));
        }
        if let Some(pos) = scales.iter().position(|s| !s.is_finite() || *s < 0.0) {
            return Err(CoreError::InvalidArgument(format!("corrupted scales: scale {pos} is {} (must be finite and >= 0)", scales[pos])));
        }
        let rowsums = row_sums(&codes, d);
        Ok(QuantizedIndex { storage: Storage::Int8, scale_mode, metric, normalized, n, d, codes: Codes::Int8 { codes, rowsums }, scales })
    }

    /// A bf16 index from saved parts, validated (no NaN/inf bit patterns).
    pub fn from_bf16_parts(codes: Vec<u16>, shape: (usize, usize), metric: Metric, normalized: bool) -> Result<Self, CoreError> {
        check_metric(metric)?;
        let (n, d) = shape;
        Self::check_parts_shape(codes.len(), shape)?;
        if let Some(pos) = codes.iter().position(|&c| c & 0x7f80 == 0x7f80) {
            return Err(CoreError::InvalidArgument(format!(
                "corrupted bf16 codes: NaN or infinity at row {}, column {}",
                pos / d,
                pos % d
            )));
        }
        Ok(QuantizedIndex { storage: Storage::Bf16, scale_mode: ScaleMode::PerVector, metric, normalized, n, d, codes: Codes::Bf16(codes), scales: Vec::new() })
    }

    fn check_parts_shape(len: usize, (n, d): (usize, usize)) -> Result<(), CoreError> {
        if n == 0 || d == 0 {
            return Err(CoreError::InvalidArgument(format!("corrupted codes: shape ({n}, {d}) has no rows or columns")));
        }
        if n.checked_mul(d) != Some(len) {
            return Err(CoreError::InvalidArgument(format!("corrupted codes: {len} values are not {n} x {d}")));
        }
        Ok(())
    }

    pub fn storage(&self) -> Storage {
        self.storage
    }
    pub fn scale_mode(&self) -> ScaleMode {
        self.scale_mode
    }
    pub fn metric(&self) -> Metric {
        self.metric
    }
    pub fn normalized(&self) -> bool {
        self.normalized
    }
    pub fn shape(&self) -> (usize, usize) {
        (self.n, self.d)
    }
    /// int8 scales (per row or per dimension); empty for bf16.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }
    /// int8 codes (row-major), or None for a bf16 index.
    pub fn int8_codes(&self) -> Option<&[i8]> {
        match &self.codes {
            Codes::Int8 { codes, .. } => Some(codes),
            Codes::Bf16(_) => None,
        }
    }
    /// Per-row sums of the int8 codes, or None for a bf16 index.
    pub fn int8_rowsums(&self) -> Option<&[i32]> {
        match &self.codes {
            Codes::Int8 { rowsums, .. } => Some(rowsums),
            Codes::Bf16(_) => None,
        }
    }
    /// bf16 codes (row-major bit patterns), or None for an int8 index.
    pub fn bf16_codes(&self) -> Option<&[u16]> {
        match &self.codes {
            Codes::Bf16(codes) => Some(codes),
            Codes::Int8 { .. } => None,
        }
    }

    /// Bytes held in memory by the compressed index: codes, scales and (int8) row sums.
    pub fn nbytes(&self) -> usize {
        let codes = match &self.codes {
            Codes::Int8 { codes, rowsums } => codes.len() + 4 * rowsums.len(),
            Codes::Bf16(codes) => 2 * codes.len(),
        };
        codes + 4 * self.scales.len()
    }

    /// Exact top-k: quantised shortlist, then float32 re-rank.
    pub fn search(&self, req: &QuantSearch<'_>) -> Result<TopkResult, CoreError> {
        check_matrix(req.queries, req.query_shape, ArrayName::Queries)?;
        let (b, d) = req.query_shape;
        if d != self.d {
            return Err(CoreError::DimensionMismatch { queries: d, catalog: self.d });
        }
        if req.exact_shape != (self.n, self.d) || req.exact.len() != self.n * self.d {
            return Err(CoreError::InvalidArgument(format!(
                "the float32 catalogue has shape {:?} but the index was built from ({}, {})",
                req.exact_shape, self.n, self.d
            )));
        }
        if req.k == 0 {
            return Err(CoreError::InvalidK(0));
        }
        if let Some(s) = req.shortlist {
            if s < req.k {
                return Err(CoreError::InvalidArgument(format!("shortlist must be >= k ({}), got {s}", req.k)));
            }
        }
        if let Some(ex) = req.exclude {
            if ex.queries() != b {
                return Err(CoreError::ExcludeLength { expected: b, got: ex.queries() });
            }
        }
        if let Some((row, col)) = find_non_finite(req.queries, d) {
            return Err(CoreError::NonFinite { array: ArrayName::Queries, row, col });
        }
        let kernel = match req.kernel {
            Some(k) => self.storage.resolve(Some(k.name()))?,
            None => self.storage.active_kernel(),
        };
        let kp = req.k.min(self.n);
        let shortlist = req.shortlist.unwrap_or_else(|| default_shortlist(req.k)).min(self.n).max(kp);
        let mut par = parallelism(req.threads)?;
        if b.saturating_mul(self.n).saturating_mul(d) < SERIAL_WORK {
            par = Parallelism::Serial;
        }

        let prepared: Cow<'_, [f32]> = match self.metric {
            Metric::Cosine if !self.normalized => Cow::Owned(prepare_rows(req.queries, d, false)),
            _ => Cow::Borrowed(req.queries),
        };
        let scan = QuantScan { index: self, exclude: req.exclude, shortlist, kernel };
        let prepared_queries = scan.prepare_queries(&prepared)?;
        let (heaps, bad) = par.run(|threads| scan.run(&prepared_queries, threads));
        if bad {
            // Finite codes and queries, so the approximate score itself overflowed float32: vectors near
            // float32's range, whose codes' scales multiply out of it while the exact scores are finite.
            // The shortlist is only a shortcut to the exact answer, so scan the float32 catalogue exactly
            // (rare; it fails only where the exact scores overflow too, as the float32 scan does).
            return topk(&TopkRequest {
                queries: req.queries,
                query_shape: req.query_shape,
                catalog: req.exact,
                catalog_shape: req.exact_shape,
                k: req.k,
                metric: self.metric,
                normalized: self.normalized,
                exclude: req.exclude,
                threads: req.threads,
                kernel: req.exact_kernel,
            });
        }

        // Exact re-rank of each shortlist with the float32 kernel, on the calling thread or
        // spread over queries.
        let rerank = |(q, heap): (usize, TopK)| -> Result<Ranked, CoreError> { self.rerank(req, q, heap, kp) };
        let parts: Vec<Result<Ranked, CoreError>> = par.run(|threads| {
            if threads <= 1 || b < 2 {
                heaps.into_iter().enumerate().map(rerank).collect()
            } else {
                heaps.into_par_iter().enumerate().map(rerank).collect()
            }
        });
        let mut scores = Vec::with_capacity(b * kp);
        let mut indices = Vec::with_capacity(b * kp);
        for part in parts {
            let (s, i) = part?;
            scores.extend(s);
            indices.extend(i);
        }
        Ok(TopkResult { rows: b, k: kp, scores, indices })
    }

    /// Exact float32 scores of query `q` against its shortlist, best `kp` first, padded.
    fn rerank(&self, req: &QuantSearch<'_>, q: usize, heap: TopK, kp: usize) -> Result<Ranked, CoreError> {
        let d = self.d;
        // Ascending item order, so the re-rank's "lower index first" tie rule is the catalogue's.
        let mut ids: Vec<usize> = heap.into_sorted().into_iter().map(|s| s.index).collect();
        ids.sort_unstable();
        let mut scores = Vec::with_capacity(kp);
        let mut indices = Vec::with_capacity(kp);
        if !ids.is_empty() {
            let mut rows = Vec::with_capacity(ids.len() * d);
            for &i in &ids {
                rows.extend_from_slice(&req.exact[i * d..(i + 1) * d]);
            }
            let exact = topk(&TopkRequest {
                queries: &req.queries[q * d..(q + 1) * d],
                query_shape: (1, d),
                catalog: &rows,
                catalog_shape: (ids.len(), d),
                k: kp,
                metric: self.metric,
                normalized: self.normalized,
                exclude: None,
                threads: Some(1),
                kernel: req.exact_kernel,
            })
            .map_err(|e| match e {
                // Name the row of the real catalogue, not of the gathered shortlist.
                CoreError::NonFinite { array: ArrayName::Catalog, row, col } => {
                    CoreError::NonFinite { array: ArrayName::Catalog, row: ids[row], col }
                }
                other => other,
            })?;
            for (s, i) in exact.scores.iter().zip(&exact.indices) {
                if *i >= 0 {
                    scores.push(*s);
                    indices.push(ids[*i as usize] as i64);
                }
            }
        }
        scores.resize(kp, f32::NEG_INFINITY);
        indices.resize(kp, -1);
        Ok((scores, indices))
    }
}

/// One query's (scores, indices), best first.
type Ranked = (Vec<f32>, Vec<i64>);

fn row_sums(codes: &[i8], d: usize) -> Vec<i32> {
    codes.chunks_exact(d).map(|row| row.iter().map(|&c| c as i32).sum()).collect()
}

/// Queries in the form the kernels take.
enum PreparedQueries {
    Int8(Vec<Int8Query>),
    Bf16(Vec<Bf16Query>),
}

impl PreparedQueries {
    fn len(&self) -> usize {
        match self {
            PreparedQueries::Int8(q) => q.len(),
            PreparedQueries::Bf16(q) => q.len(),
        }
    }
}

struct QuantScan<'i, 'a> {
    index: &'i QuantizedIndex,
    exclude: Option<&'a Exclusions>,
    shortlist: usize,
    kernel: QuantKernel,
}

/// Reusable per-thread buffers.
#[derive(Default)]
struct Buffers {
    ints: Vec<i32>,
    scores: Vec<f32>,
}

impl QuantScan<'_, '_> {
    fn prepare_queries(&self, queries: &[f32]) -> Result<PreparedQueries, CoreError> {
        let d = self.index.d;
        Ok(match self.index.storage {
            Storage::Int8 => {
                let per_dimension = self.index.scale_mode == ScaleMode::PerDimension;
                let (mut unit, mut folded) = (Vec::with_capacity(d), Vec::with_capacity(d));
                let prepared = queries
                    .chunks_exact(d)
                    .map(|row| {
                        scaled_to_unit(row, &mut unit);
                        if per_dimension {
                            // tiny scales times a tiny query underflowed to zero codes: fold the
                            // scaled query, then scale the product again
                            let product: Vec<f32> = unit.iter().zip(&self.index.scales).map(|(q, s)| q * s).collect();
                            scaled_to_unit(&product, &mut folded);
                        } else {
                            std::mem::swap(&mut folded, &mut unit);
                        }
                        let mut codes = vec![0i8; d];
                        quantize_into(folded.iter().copied(), reciprocal(max_abs(&folded)), &mut codes);
                        Int8Query::new(codes)
                    })
                    .collect();
                PreparedQueries::Int8(prepared)
            }
            Storage::Bf16 => {
                let mut unit = Vec::with_capacity(d);
                PreparedQueries::Bf16(
                    queries
                        .chunks_exact(d)
                        .map(|row| {
                            scaled_to_unit(row, &mut unit);
                            Bf16Query::new(&unit)
                        })
                        .collect(),
                )
            }
        })
    }

    fn rows_per_block(&self) -> usize {
        let bytes_per_row = self.index.d * if self.index.storage == Storage::Int8 { 1 } else { 2 };
        (BLOCK_BYTES / bytes_per_row.max(1)).clamp(64, 16384)
    }

    fn new_heaps(&self, count: usize) -> Vec<TopK> {
        (0..count).map(|_| TopK::new(self.shortlist)).collect()
    }

    /// Shortlist heaps of every query, and whether a non-finite approximate score appeared.
    fn run(&self, queries: &PreparedQueries, threads: usize) -> (Vec<TopK>, bool) {
        let (b, n) = (queries.len(), self.index.n);
        let all = 0..b;
        if threads <= 1 {
            let mut heaps = self.new_heaps(b);
            let bad = self.scan(queries, all, 0..n, &mut heaps, &mut Buffers::default());
            return (heaps, bad);
        }
        let block = self.rows_per_block();
        let blocks = n.div_ceil(block);
        if b >= 2 * threads || blocks < 2 * threads {
            // Enough queries to share out: threads take query groups, each scanning everything.
            let group = b.div_ceil(threads * 2).max(1);
            let groups: Vec<Range<usize>> = (0..b).step_by(group).map(|lo| lo..(lo + group).min(b)).collect();
            let parts: Vec<(Vec<TopK>, bool)> = groups
                .into_par_iter()
                .map_init(Buffers::default, |buffers, range| {
                    let mut heaps = self.new_heaps(range.len());
                    let bad = self.scan(queries, range, 0..n, &mut heaps, buffers);
                    (heaps, bad)
                })
                .collect();
            let bad = parts.iter().any(|(_, bad)| *bad);
            return (parts.into_iter().flat_map(|(heaps, _)| heaps).collect(), bad);
        }
        // Few queries: split the catalogue into ranges, merge the per-range heaps (same total
        // order, so the shortlist is the single-threaded one).
        let parts = (threads * 4).min(blocks).max(1);
        (0..parts)
            .into_par_iter()
            .map_init(Buffers::default, |buffers, part| {
                let lo = (blocks * part / parts * block).min(n);
                let hi = (blocks * (part + 1) / parts * block).min(n);
                let mut heaps = self.new_heaps(b);
                let bad = self.scan(queries, all.clone(), lo..hi, &mut heaps, buffers);
                (heaps, bad)
            })
            .reduce_with(|(mut left, lbad), (right, rbad)| {
                for (l, r) in left.iter_mut().zip(right) {
                    l.merge(r);
                }
                (left, lbad || rbad)
            })
            .unwrap_or_else(|| (self.new_heaps(b), false))
    }

    /// Scan catalogue `rows` for `queries[range]`, block by block: every query meets a block
    /// while it is in cache, and its scores are consumed right away (no B x N matrix).
    fn scan(&self, queries: &PreparedQueries, range: Range<usize>, rows: Range<usize>, heaps: &mut [TopK], buffers: &mut Buffers) -> bool {
        let index = self.index;
        let d = index.d;
        let block = self.rows_per_block();
        // Resolved (and CPU-checked) once per scan, not per block.
        let int8_dots = self.kernel.int8().unwrap_or(kernels::int8_dots_scalar);
        let bf16_dots = self.kernel.bf16().unwrap_or(kernels::bf16_dots_scalar);
        let mut bad = false;
        let mut start = rows.start;
        while start < rows.end {
            let end = (start + block).min(rows.end);
            let nr = end - start;
            buffers.scores.resize(nr, 0.0);
            match (&index.codes, queries) {
                (Codes::Int8 { codes, rowsums }, PreparedQueries::Int8(prepared)) => {
                    let dots = int8_dots;
                    buffers.ints.resize(nr, 0);
                    let per_vector = index.scale_mode == ScaleMode::PerVector;
                    for (heap, qi) in heaps.iter_mut().zip(range.clone()) {
                        dots(&prepared[qi], &codes[start * d..end * d], &rowsums[start..end], d, &mut buffers.ints);
                        for (s, &v) in buffers.scores.iter_mut().zip(&buffers.ints) {
                            *s = v as f32;
                        }
                        let excluded = self.excluded(qi);
                        bad |= if per_vector {
                            consume::<true>(&buffers.scores, &index.scales[start..end], start, excluded, heap)
                        } else {
                            consume::<false>(&buffers.scores, &[], start, excluded, heap)
                        };
                    }
                }
                (Codes::Bf16(codes), PreparedQueries::Bf16(prepared)) => {
                    let dots = bf16_dots;
                    for (heap, qi) in heaps.iter_mut().zip(range.clone()) {
                        dots(&prepared[qi], &codes[start * d..end * d], d, &mut buffers.scores);
                        bad |= consume::<false>(&buffers.scores, &[], start, self.excluded(qi), heap);
                    }
                }
                _ => unreachable!("queries are prepared for the index's own storage"),
            }
            start = end;
        }
        bad
    }

    fn excluded(&self, query: usize) -> &[usize] {
        self.exclude.map(|ex| ex.for_query(query)).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests;
