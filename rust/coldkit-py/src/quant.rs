//! Bindings of the quantised index (`coldkit_core::quant`), wrapped by `coldkit.quantized`.
//!
//! Same rules as the rest of the binding: arrays borrowed as slices, O(N*d) work run through
//! [`detached`] with the GIL released, core errors mapped in one place ([`CoreErr`]).

use coldkit_core as core;
use coldkit_core::quant::{Bf16Query, Int8Query, QuantKernel, QuantSearch, QuantizedIndex, ScaleMode, Storage};
use coldkit_core::{CoreError, Exclusions, Metric};
use numpy::ndarray::Array1;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::{detached, kernel, matrix, to_array2, CoreErr, InvalidInputError, ScoresAndIds};

fn core_err(e: CoreError) -> PyErr {
    CoreErr(e).into()
}

fn parse_metric(name: &str) -> PyResult<Metric> {
    match Metric::parse(name) {
        Some(m @ (Metric::Cosine | Metric::Dot)) => Ok(m),
        _ => Err(InvalidInputError::new_err(format!("unknown metric {name:?} for a quantised index; expected 'cosine' or 'dot'"))),
    }
}

fn metric_name(metric: Metric) -> &'static str {
    match metric {
        Metric::Cosine => "cosine",
        Metric::Dot => "dot",
        Metric::Pearson => "pearson",
    }
}

/// Borrow a C-contiguous 2-D array of any element type as a slice.
fn borrow2<'a, T: numpy::Element>(array: &'a PyReadonlyArray2<'_, T>, name: &str) -> PyResult<(&'a [T], (usize, usize))> {
    let shape = (array.shape()[0], array.shape()[1]);
    let refused = || InvalidInputError::new_err(format!("{name} must be a C-contiguous array"));
    if !array.is_c_contiguous() {
        return Err(refused()); // as_slice() also takes a Fortran-ordered array: another matrix read row-major
    }
    let slice = array.as_slice().map_err(|_| refused())?;
    Ok((slice, shape))
}

fn quant_kernel(storage: Storage, name: Option<&str>) -> PyResult<QuantKernel> {
    storage.resolve(name).map_err(core_err)
}

/// A compressed (int8 or bf16) copy of a catalogue with an exact float32 re-rank.
/// Named `QuantizedIndex` in Python, like the class that wraps it (`coldkit.quantized`) and the
/// core type it holds: one word for the concept across Rust and Python.
#[pyclass(module = "coldkit._core", name = "QuantizedIndex", frozen)]
pub struct PyQuantizedIndex {
    inner: QuantizedIndex,
}

#[pymethods]
impl PyQuantizedIndex {
    /// Compress a (n, d) float32 catalogue.
    #[staticmethod]
    #[pyo3(signature = (catalog, kind = "int8", scale = "per-vector", metric = "cosine", normalized = false, threads = None))]
    fn build(
        py: Python<'_>,
        catalog: PyReadonlyArray2<'_, f32>,
        kind: &str,
        scale: &str,
        metric: &str,
        normalized: bool,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        let storage = Storage::parse(kind).map_err(core_err)?;
        let scale = ScaleMode::parse(scale).map_err(core_err)?;
        let metric = parse_metric(metric)?;
        let (data, shape) = matrix(&catalog, "catalog")?;
        let inner = detached(py, || QuantizedIndex::build(data, shape, storage, scale, metric, normalized, threads))?;
        Ok(PyQuantizedIndex { inner })
    }

    /// An int8 index from saved codes (n, d) and scales; validated.
    #[staticmethod]
    fn from_int8_parts(
        py: Python<'_>,
        codes: PyReadonlyArray2<'_, i8>,
        scales: PyReadonlyArray1<'_, f32>,
        scale: &str,
        metric: &str,
        normalized: bool,
    ) -> PyResult<Self> {
        let scale = ScaleMode::parse(scale).map_err(core_err)?;
        let metric = parse_metric(metric)?;
        let (codes, shape) = borrow2(&codes, "codes")?;
        let scales = scales.as_slice().map_err(|_| InvalidInputError::new_err("scales must be a contiguous float32 array"))?;
        let inner = detached(py, || QuantizedIndex::from_int8_parts(codes.to_vec(), shape, scales.to_vec(), scale, metric, normalized))?;
        Ok(PyQuantizedIndex { inner })
    }

    /// A bf16 index from saved codes (n, d) of bfloat16 bit patterns; validated.
    #[staticmethod]
    fn from_bf16_parts(py: Python<'_>, codes: PyReadonlyArray2<'_, u16>, metric: &str, normalized: bool) -> PyResult<Self> {
        let metric = parse_metric(metric)?;
        let (codes, shape) = borrow2(&codes, "codes")?;
        let inner = detached(py, || QuantizedIndex::from_bf16_parts(codes.to_vec(), shape, metric, normalized))?;
        Ok(PyQuantizedIndex { inner })
    }

    /// Exact top-k via the quantised shortlist and a float32 re-rank against `catalog`.
    #[pyo3(signature = (queries, catalog, k, shortlist = None, exclude_indptr = None, exclude_indices = None, threads = None, kernel = None, exact_kernel = None))]
    #[allow(clippy::too_many_arguments)]
    fn search<'py>(
        &self,
        py: Python<'py>,
        queries: PyReadonlyArray2<'py, f32>,
        catalog: PyReadonlyArray2<'py, f32>,
        k: usize,
        shortlist: Option<usize>,
        exclude_indptr: Option<PyReadonlyArray1<'py, i64>>,
        exclude_indices: Option<PyReadonlyArray1<'py, i64>>,
        threads: Option<usize>,
        kernel: Option<&str>,
        exact_kernel: Option<&str>,
    ) -> PyResult<ScoresAndIds<'py>> {
        let quant = quant_kernel(self.inner.storage(), kernel)?;
        let exact_kernel = self::kernel(exact_kernel)?;
        let (q, q_shape) = matrix(&queries, "queries")?;
        let (c, c_shape) = matrix(&catalog, "catalog")?;
        let exclusions = match (&exclude_indptr, &exclude_indices) {
            (None, None) => None,
            (Some(indptr), Some(indices)) => {
                let (indptr, indices) = (indptr.as_slice()?, indices.as_slice()?);
                Some(Exclusions::from_csr(indptr, indices, q_shape.0, self.inner.shape().0).map_err(core_err)?)
            }
            _ => return Err(InvalidInputError::new_err("exclude_indptr and exclude_indices must be given together")),
        };
        let request = QuantSearch {
            queries: q,
            query_shape: q_shape,
            exact: c,
            exact_shape: c_shape,
            k,
            shortlist,
            exclude: exclusions.as_ref(),
            threads,
            kernel: Some(quant),
            exact_kernel,
        };
        let index = &self.inner;
        let result = detached(py, || index.search(&request))?;
        let shape = (result.rows, result.k);
        Ok((to_array2(py, shape, result.scores)?, to_array2(py, shape, result.indices)?))
    }

    /// A copy of the codes: int8 (n, d) or uint16 bf16 bit patterns (n, d).
    fn codes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shape = self.inner.shape();
        if let Some(codes) = self.inner.int8_codes() {
            return Ok(to_array2(py, shape, codes.to_vec())?.into_any());
        }
        let codes = self.inner.bf16_codes().unwrap_or(&[]);
        Ok(to_array2(py, shape, codes.to_vec())?.into_any())
    }

    /// A copy of the int8 scales (n per-vector, d per-dimension; empty for bf16).
    fn scales<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        Array1::from_vec(self.inner.scales().to_vec()).into_pyarray(py)
    }

    /// A copy of the int8 row sums (None for bf16).
    fn rowsums<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<i32>>> {
        self.inner.int8_rowsums().map(|s| Array1::from_vec(s.to_vec()).into_pyarray(py))
    }

    /// `"int8"` or `"bf16"` (the core's `Storage`; Python calls it the index's kind).
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.storage().name()
    }
    #[getter]
    fn scale(&self) -> &'static str {
        self.inner.scale_mode().name()
    }
    #[getter]
    fn metric(&self) -> &'static str {
        metric_name(self.inner.metric())
    }
    #[getter]
    fn normalized(&self) -> bool {
        self.inner.normalized()
    }
    #[getter]
    fn shape(&self) -> (usize, usize) {
        self.inner.shape()
    }
    #[getter]
    fn nbytes(&self) -> usize {
        self.inner.nbytes()
    }
}

/// Quantised kernels per storage format: `{"int8": {"kernels": [...], "active": name}, "bf16": ...}`.
#[pyfunction]
fn quant_kernels(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    for storage in [Storage::Int8, Storage::Bf16] {
        let entry = PyDict::new(py);
        let names: Vec<&str> = storage.supported_kernels().iter().map(|k| k.name()).collect();
        entry.set_item("kernels", names)?;
        entry.set_item("active", storage.active_kernel().name())?;
        out.set_item(storage.name(), entry)?;
    }
    Ok(out)
}

/// Exact int32 inner products of int8 query codes (b, d) with int8 codes (n, d) by one kernel
/// (for testing every kernel against an integer reference).
#[pyfunction]
#[pyo3(signature = (queries, codes, kernel = None))]
fn quant_int8_dots<'py>(
    py: Python<'py>,
    queries: PyReadonlyArray2<'py, i8>,
    codes: PyReadonlyArray2<'py, i8>,
    kernel: Option<&str>,
) -> PyResult<Bound<'py, PyArray2<i32>>> {
    let dots = quant_kernel(Storage::Int8, kernel)?.int8().map_err(core_err)?;
    let (q, (b, d)) = borrow2(&queries, "queries")?;
    let (c, (n, dc)) = borrow2(&codes, "codes")?;
    if d != dc || d == 0 {
        return Err(core_err(CoreError::DimensionMismatch { queries: d, catalog: dc }));
    }
    if let Some(pos) = q.iter().chain(c).position(|&v| v == i8::MIN) {
        return Err(InvalidInputError::new_err(format!("int8 codes must lie in -127..=127 (value -128 at flat position {pos})")));
    }
    let out = detached(py, || {
        let rowsums: Vec<i32> = c.chunks_exact(d).map(|r| r.iter().map(|&v| v as i32).sum()).collect();
        let mut out = vec![0i32; b * n];
        for (query, slot) in q.chunks_exact(d).zip(out.chunks_mut(n.max(1))) {
            dots(&Int8Query::new(query.to_vec()), c, &rowsums, d, slot);
        }
        Ok(out)
    })?;
    to_array2(py, (b, n), out)
}

/// float32 inner products of bf16-rounded float32 queries (b, d) with bf16 codes (n, d) by one
/// kernel (for testing every kernel against a reference).
#[pyfunction]
#[pyo3(signature = (queries, codes, kernel = None))]
fn quant_bf16_dots<'py>(
    py: Python<'py>,
    queries: PyReadonlyArray2<'py, f32>,
    codes: PyReadonlyArray2<'py, u16>,
    kernel: Option<&str>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let dots = quant_kernel(Storage::Bf16, kernel)?.bf16().map_err(core_err)?;
    let (q, (b, d)) = matrix(&queries, "queries")?;
    let (c, (n, dc)) = borrow2(&codes, "codes")?;
    if d != dc || d == 0 {
        return Err(core_err(CoreError::DimensionMismatch { queries: d, catalog: dc }));
    }
    let out = detached(py, || {
        let mut out = vec![0f32; b * n];
        for (query, slot) in q.chunks_exact(d).zip(out.chunks_mut(n.max(1))) {
            dots(&Bf16Query::new(query), c, d, slot);
        }
        Ok(out)
    })?;
    to_array2(py, (b, n), out)
}

/// The shortlist used when a search does not give one.
#[pyfunction]
fn quant_default_shortlist(k: usize) -> usize {
    core::quant::default_shortlist(k)
}

/// Add this module's classes and functions to `coldkit._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyQuantizedIndex>()?;
    m.add_function(wrap_pyfunction!(quant_kernels, m)?)?;
    m.add_function(wrap_pyfunction!(quant_int8_dots, m)?)?;
    m.add_function(wrap_pyfunction!(quant_bf16_dots, m)?)?;
    m.add_function(wrap_pyfunction!(quant_default_shortlist, m)?)?;
    Ok(())
}
