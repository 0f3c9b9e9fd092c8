//! coldkit-core: similarity kernels and exact top-k selection. No Python here.
//!
//! * [`kernels`]: scalar / AVX2+FMA / AVX-512F / NEON kernels, runtime dispatch cached once;
//! * [`topk`]: the fused, blocked, multi-threaded exact top-k scan;
//! * [`ops`]: finiteness checks, row normalisation, dense cosine matrices;
//! * [`means`]: the mean of the table rows each list names (a user's interest in content);
//! * [`unit`]: rows scaled to unit length, rescaled or centred first, with numpy's arithmetic;
//! * [`CoreError`]: every way a request is refused.

pub mod error;
pub mod heap;
pub mod kernels;
pub mod means;
pub mod ops;
pub mod quant;
pub mod threads;
pub mod topk;
pub mod unit;

pub use error::{ArrayName, CoreError};
pub use kernels::{active, cpu_features, kernel_impl, resolve, supported_kernels, CpuFeatures, Kernel, KernelImpl};
pub use means::row_means;
pub use ops::{cosine_matrix, find_non_finite, normalize};
pub use topk::{topk, Exclusions, Metric, TopkRequest, TopkResult};
pub use unit::{unit_rows, UnitRows};
