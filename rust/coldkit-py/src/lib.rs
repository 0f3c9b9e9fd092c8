//! `coldkit._core`: the thin binding over coldkit-core.
//!
//! Only three things happen here: numpy arrays are borrowed as slices (zero-copy; the Python
//! wrapper has already converted other dtypes and layouts), every O(N*d) call runs through
//! [`detached`] with the GIL released, and core errors become Python exceptions in one place
//! ([`CoreErr`]).

mod quant;

use coldkit_core as core;
use coldkit_core::{CoreError, Exclusions, Metric, TopkRequest};
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

pyo3::import_exception!(coldkit.exceptions, InvalidInputError);

/// A core error on its way to Python (a newtype, because both `CoreError` and `PyErr` are
/// foreign to this crate).
struct CoreErr(CoreError);

impl From<CoreErr> for PyErr {
    fn from(err: CoreErr) -> PyErr {
        let message = err.0.to_string();
        match err.0 {
            CoreError::ThreadPool(_) => PyRuntimeError::new_err(message),
            _ => InvalidInputError::new_err(message),
        }
    }
}

/// Run `f` without the GIL (other Python threads keep running during the O(N*d) work).
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T, CoreError> + Send) -> PyResult<T> {
    py.detach(f).map_err(|e| CoreErr(e).into())
}

/// Borrow a (rows, cols) float32 array as a slice; it must be C-contiguous.
fn matrix<'a>(array: &'a PyReadonlyArray2<'_, f32>, name: &str) -> PyResult<(&'a [f32], (usize, usize))> {
    let shape = (array.shape()[0], array.shape()[1]);
    let refused = || InvalidInputError::new_err(format!("{name} must be a C-contiguous float32 array (coldkit's wrappers convert it)"));
    // as_slice() also takes a Fortran-ordered array, whose buffer read row-major is another matrix
    if !array.is_c_contiguous() {
        return Err(refused());
    }
    let slice = array.as_slice().map_err(|_| refused())?;
    Ok((slice, shape))
}

fn kernel(name: Option<&str>) -> PyResult<&'static core::KernelImpl> {
    core::resolve(name).map_err(|e| CoreErr(e).into())
}

fn to_array2<T: numpy::Element>(py: Python<'_>, shape: (usize, usize), data: Vec<T>) -> PyResult<Bound<'_, PyArray2<T>>> {
    let array = Array2::from_shape_vec(shape, data).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py))
}

/// `(scores (B, k) float32, indices (B, k) int64)`.
type ScoresAndIds<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<i64>>);

/// Exact top-k of each query row against the catalogue (validated arguments; see coldkit.topk).
#[pyfunction]
#[pyo3(signature = (queries, catalog, k, metric = "cosine", normalized = false, exclude_indptr = None, exclude_indices = None, threads = None, kernel = None))]
#[allow(clippy::too_many_arguments)]
fn topk<'py>(
    py: Python<'py>,
    queries: PyReadonlyArray2<'py, f32>,
    catalog: PyReadonlyArray2<'py, f32>,
    k: usize,
    metric: &str,
    normalized: bool,
    exclude_indptr: Option<PyReadonlyArray1<'py, i64>>,
    exclude_indices: Option<PyReadonlyArray1<'py, i64>>,
    threads: Option<usize>,
    kernel: Option<&str>,
) -> PyResult<ScoresAndIds<'py>> {
    let metric = Metric::parse(metric).ok_or_else(|| {
        InvalidInputError::new_err(format!("unknown metric {metric:?}; expected 'cosine', 'dot' or 'pearson'"))
    })?;
    let kernel = self::kernel(kernel)?;
    let (q, q_shape) = matrix(&queries, "queries")?;
    let (c, c_shape) = matrix(&catalog, "catalog")?;
    let exclusions = match (&exclude_indptr, &exclude_indices) {
        (None, None) => None,
        (Some(indptr), Some(indices)) => {
            let (indptr, indices) = (indptr.as_slice()?, indices.as_slice()?);
            Some(Exclusions::from_csr(indptr, indices, q_shape.0, c_shape.0).map_err(CoreErr)?)
        }
        _ => return Err(InvalidInputError::new_err("exclude_indptr and exclude_indices must be given together")),
    };
    let request = TopkRequest {
        queries: q,
        query_shape: q_shape,
        catalog: c,
        catalog_shape: c_shape,
        k,
        metric,
        normalized,
        exclude: exclusions.as_ref(),
        threads,
        kernel,
    };
    let result = detached(py, || core::topk(&request))?;
    let shape = (result.rows, result.k);
    Ok((to_array2(py, shape, result.scores)?, to_array2(py, shape, result.indices)?))
}

/// Rows scaled to unit L2 norm (zero rows stay zero).
#[pyfunction]
fn normalize<'py>(py: Python<'py>, x: PyReadonlyArray2<'py, f32>) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (data, shape) = matrix(&x, "x")?;
    let out = detached(py, || core::normalize(data, shape))?;
    to_array2(py, shape, out)
}

/// Dense cosine similarities between the rows of a and b.
#[pyfunction]
#[pyo3(signature = (a, b, threads = None, kernel = None))]
fn cosine_matrix<'py>(
    py: Python<'py>,
    a: PyReadonlyArray2<'py, f32>,
    b: PyReadonlyArray2<'py, f32>,
    threads: Option<usize>,
    kernel: Option<&str>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let kernel = self::kernel(kernel)?;
    let (a_data, a_shape) = matrix(&a, "a")?;
    let (b_data, b_shape) = matrix(&b, "b")?;
    let out = detached(py, || core::cosine_matrix(a_data, a_shape, b_data, b_shape, kernel, threads))?;
    to_array2(py, (a_shape.0, b_shape.0), out)
}

/// (lists, d) float32: row q the mean of the table rows `indices[indptr[q]:indptr[q + 1]]` (zero when
/// empty), bit-identical to numpy's `table[rows].mean(axis=0)` for d >= 2 (see coldkit-core's means.rs).
#[pyfunction]
#[pyo3(signature = (table, indptr, indices, threads = None))]
fn row_means<'py>(
    py: Python<'py>,
    table: PyReadonlyArray2<'py, f32>,
    indptr: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i64>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (data, shape) = matrix(&table, "table")?;
    let (indptr, indices) = (indptr.as_slice()?, indices.as_slice()?);
    let lists = indptr.len().saturating_sub(1);
    let out = detached(py, || core::row_means(data, shape, indptr, indices, threads))?;
    to_array2(py, (lists, shape.1), out)
}

/// (rows, d) float32: each row scaled to unit L2 norm in float64, after dividing it by its largest |value|
/// (`rescale`) and/or subtracting `mean` (in that order; a row all zeros as given stays zero); the bits of
/// coldkit's numpy code for the same (see coldkit-core's unit.rs). A NaN/inf value is refused, naming its
/// row and column.
#[pyfunction]
#[pyo3(signature = (table, mean = None, rescale = false, threads = None))]
fn unit_rows<'py>(
    py: Python<'py>,
    table: PyReadonlyArray2<'py, f32>,
    mean: Option<PyReadonlyArray1<'py, f64>>,
    rescale: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (data, shape) = matrix(&table, "table")?;
    let centre = match &mean {
        Some(mean) => Some(mean.as_slice().map_err(|_| InvalidInputError::new_err("mean must be a contiguous float64 array"))?),
        None => None,
    };
    let how = core::UnitRows { centre, rescale };
    let out = detached(py, || core::unit_rows(data, shape, how, threads))?;
    to_array2(py, shape, out)
}

/// (row, column) of the first NaN/inf value, or None.
#[pyfunction]
fn find_non_finite<'py>(py: Python<'py>, x: PyReadonlyArray2<'py, f32>) -> PyResult<Option<(usize, usize)>> {
    let (data, shape) = matrix(&x, "x")?;
    detached(py, || Ok(core::find_non_finite(data, shape.1)))
}

/// What the CPU supports and which kernel runs by default.
#[pyfunction]
fn simd_capabilities(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let features = core::cpu_features();
    let caps = PyDict::new(py);
    caps.set_item("arch", std::env::consts::ARCH)?;
    let cpu = PyDict::new(py);
    for (name, present) in [
        ("sse4.2", features.sse42),
        ("avx2", features.avx2),
        ("fma", features.fma),
        ("avx512f", features.avx512f),
        ("avx512bw", features.avx512bw),
        ("avx512vnni", features.avx512vnni),
        ("avx512bf16", features.avx512bf16),
        ("neon", features.neon),
    ] {
        cpu.set_item(name, present)?;
    }
    caps.set_item("cpu_features", cpu)?;
    let names: Vec<&str> = core::supported_kernels().iter().map(|k| k.name()).collect();
    caps.set_item("kernels", names)?;
    caps.set_item("active", core::active().kind.name())?;
    caps.set_item("threads", rayon_threads())?;
    Ok(caps)
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    m.add("build_info", format!("profile={profile} arch={}", std::env::consts::ARCH))?;
    m.add_function(wrap_pyfunction!(topk, m)?)?;
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_function(wrap_pyfunction!(cosine_matrix, m)?)?;
    m.add_function(wrap_pyfunction!(find_non_finite, m)?)?;
    m.add_function(wrap_pyfunction!(row_means, m)?)?;
    m.add_function(wrap_pyfunction!(unit_rows, m)?)?;
    m.add_function(wrap_pyfunction!(simd_capabilities, m)?)?;
    quant::register(m)?;
    Ok(())
}
