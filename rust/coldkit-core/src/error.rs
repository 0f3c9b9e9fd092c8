//! The one error type of the core: every way a request can be refused.

use std::fmt;

/// Which input array a problem was found in (used to name it in messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayName {
    Queries,
    Catalog,
    Input,
    A,
    B,
    Table,
}

impl ArrayName {
    pub fn as_str(self) -> &'static str {
        match self {
            ArrayName::Queries => "queries",
            ArrayName::Catalog => "catalog",
            ArrayName::Input => "x",
            ArrayName::A => "a",
            ArrayName::B => "b",
            ArrayName::Table => "table",
        }
    }
}

/// Everything the core can refuse. The Python binding maps each variant to one exception type.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreError {
    /// A flat buffer whose length is not `rows * dim`, or a zero dimension.
    Shape { array: ArrayName, detail: String },
    /// Queries and catalogue rows have different lengths.
    DimensionMismatch { queries: usize, catalog: usize },
    /// `k` must be at least 1.
    InvalidK(usize),
    /// The catalogue has no rows.
    EmptyCatalog,
    /// A NaN or infinite value at (row, col).
    NonFinite { array: ArrayName, row: usize, col: usize },
    /// Inputs are finite but a score overflowed float32.
    ScoreOverflow,
    /// The exclusion lists do not have one entry per query.
    ExcludeLength { expected: usize, got: usize },
    /// An excluded item index outside `0..n`.
    ExcludeOutOfRange { query: usize, index: i64, n: usize },
    /// A kernel name nobody knows.
    UnknownKernel(String),
    /// A kernel this CPU (or this build) cannot run.
    KernelUnavailable(&'static str),
    /// `threads` must be at least 1.
    InvalidThreads(usize),
    /// The thread pool could not be built (OS refused threads).
    ThreadPool(String),
    /// Any other refused argument, with a message naming it (used by the quantised index).
    InvalidArgument(String),
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Shape { array, detail } => write!(f, "{}: {detail}", array.as_str()),
            CoreError::DimensionMismatch { queries, catalog } => write!(
                f,
                "dimension mismatch: queries have {queries} columns but catalog rows have {catalog}"
            ),
            CoreError::InvalidK(k) => write!(f, "k must be >= 1, got {k}"),
            CoreError::EmptyCatalog => write!(f, "catalog is empty (0 rows); nothing to rank"),
            CoreError::NonFinite { array, row, col } => write!(
                f,
                "{} contains NaN or infinite values (first at row {row}, column {col})",
                array.as_str()
            ),
            CoreError::ScoreOverflow => write!(
                f,
                "scores overflow float32: the vectors are finite but too large; scale them down or use metric='cosine'"
            ),
            CoreError::ExcludeLength { expected, got } => write!(
                f,
                "exclude must have one entry per query: expected {expected}, got {got}"
            ),
            CoreError::ExcludeOutOfRange { query, index, n } => write!(
                f,
                "exclude[{query}] contains item index {index}, outside the catalog range 0..{n}"
            ),
            CoreError::UnknownKernel(name) => write!(
                f,
                "unknown kernel '{name}'; expected one of 'auto', 'scalar', 'avx2', 'avx512', 'neon'"
            ),
            CoreError::KernelUnavailable(name) => write!(
                f,
                "kernel '{name}' is not supported by this CPU or build; see coldkit.simd_capabilities()"
            ),
            CoreError::InvalidThreads(t) => write!(f, "threads must be between 1 and {} (or None for all cores), got {t}", crate::threads::MAX_THREADS),
            CoreError::ThreadPool(msg) => write!(f, "could not start the thread pool: {msg}"),
            CoreError::InvalidArgument(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for CoreError {}
