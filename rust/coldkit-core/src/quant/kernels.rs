//! Quantised inner-product kernels and their runtime dispatch.
//!
//! Two storage formats, each with a family of kernels that compute the same exactly-defined
//! quantity, so any kernel can be checked against the scalar one:
//! * int8: `out[j] = sum_t q[t] * row_j[t]` over signed 8-bit codes in `-127..=127`, in exact
//!   32-bit integer arithmetic (every kernel must agree bit for bit);
//! * bf16: `out[j] = sum_t bf16(q)[t] * row_j[t]` over bfloat16 values, accumulated in float32
//!   (products of two bf16 are exact in f32; kernels differ only in summation order).
//!
//! The best kernel per format is detected once and cached; callers may force another per call.

use std::sync::OnceLock;

use crate::error::CoreError;
use crate::kernels::cpu_features;

/// A query prepared for the int8 kernels: its codes, and the same codes offset by +128 as
/// unsigned bytes (for `vpdpbusd`, which multiplies unsigned by signed bytes).
#[derive(Debug, Clone, Default)]
pub struct Int8Query {
    pub codes: Vec<i8>,
    pub offset: Vec<u8>,
}

impl Int8Query {
    pub fn new(codes: Vec<i8>) -> Self {
        let offset = codes.iter().map(|&c| (c as i16 + 128) as u8).collect();
        Int8Query { codes, offset }
    }
}

/// A query prepared for the bf16 kernels: bf16 bit patterns and the same values widened to f32.
#[derive(Debug, Clone, Default)]
pub struct Bf16Query {
    pub bits: Vec<u16>,
    pub widened: Vec<f32>,
}

impl Bf16Query {
    pub fn new(values: &[f32]) -> Self {
        let bits: Vec<u16> = values.iter().map(|&v| f32_to_bf16(v)).collect();
        let widened = bits.iter().map(|&b| bf16_to_f32(b)).collect();
        Bf16Query { bits, widened }
    }
}

/// float32 -> bfloat16 bits, rounding to nearest even (finite input; NaN stays NaN).
#[inline]
pub fn f32_to_bf16(value: f32) -> u16 {
    let bits = value.to_bits();
    if value.is_nan() {
        return ((bits >> 16) | 0x0040) as u16;
    }
    let rounding = 0x7fff + ((bits >> 16) & 1);
    (bits.wrapping_add(rounding) >> 16) as u16
}

/// bfloat16 bits -> float32 (exact).
#[inline]
pub fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits((bits as u32) << 16)
}

/// `dots(query, rows, rowsums, d, out)`: `out[j]` = exact integer inner product of the query
/// with row `j` of `rows` (`rowsums[j]` = sum of row j's codes, used by the VNNI kernel).
pub type Int8DotsFn = fn(&Int8Query, &[i8], &[i32], usize, &mut [i32]);
/// `dots(query, rows, d, out)`: `out[j]` = inner product of the bf16 query with bf16 row `j`.
pub type Bf16DotsFn = fn(&Bf16Query, &[u16], usize, &mut [f32]);

/// The quantised kernels coldkit ships (which apply to which format: see [`QuantKernel::int8`]
/// and [`QuantKernel::bf16`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantKernel {
    Scalar,
    /// AVX2: int8 via `vpmaddubsw` on |q| and sign-adjusted rows; bf16 widened to f32 + FMA.
    Avx2,
    /// AVX-512BW: int8 via `vpmaddubsw` + `vpmaddwd` (no VNNI).
    Avx512Bw,
    /// AVX-512 VNNI: int8 via `vpdpbusd` on the +128-offset query.
    Avx512Vnni,
    /// AVX-512 BF16: `vdpbf16ps`.
    Avx512Bf16,
    /// NEON (aarch64): int8 via `smull` + `sadalp`.
    Neon,
}

/// Storage format of a quantised index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    Int8,
    Bf16,
}

impl Storage {
    pub fn name(self) -> &'static str {
        match self {
            Storage::Int8 => "int8",
            Storage::Bf16 => "bf16",
        }
    }

    pub fn parse(name: &str) -> Result<Storage, CoreError> {
        match name {
            "int8" => Ok(Storage::Int8),
            "bf16" => Ok(Storage::Bf16),
            other => Err(CoreError::InvalidArgument(format!("unknown storage kind {other:?}; expected 'int8' or 'bf16'"))),
        }
    }

    /// Kernels of this format, worst first.
    pub fn kernels(self) -> &'static [QuantKernel] {
        match self {
            Storage::Int8 => &[QuantKernel::Scalar, QuantKernel::Neon, QuantKernel::Avx2, QuantKernel::Avx512Bw, QuantKernel::Avx512Vnni],
            Storage::Bf16 => &[QuantKernel::Scalar, QuantKernel::Avx2, QuantKernel::Avx512Bf16],
        }
    }

    /// Kernels of this format the build and CPU can run, worst first.
    pub fn supported_kernels(self) -> Vec<QuantKernel> {
        self.kernels().iter().copied().filter(|k| k.is_supported()).collect()
    }

    /// The best supported kernel of this format, chosen once.
    pub fn active_kernel(self) -> QuantKernel {
        static INT8: OnceLock<QuantKernel> = OnceLock::new();
        static BF16: OnceLock<QuantKernel> = OnceLock::new();
        let cell = match self {
            Storage::Int8 => &INT8,
            Storage::Bf16 => &BF16,
        };
        *cell.get_or_init(|| *self.supported_kernels().last().unwrap_or(&QuantKernel::Scalar))
    }

    /// Resolve an optional kernel name for this format (None / "auto" = the active one).
    pub fn resolve(self, name: Option<&str>) -> Result<QuantKernel, CoreError> {
        let kernel = match name {
            None | Some("auto") => return Ok(self.active_kernel()),
            Some(name) => QuantKernel::parse(name)?,
        };
        if !self.kernels().contains(&kernel) {
            let names: Vec<&str> = self.kernels().iter().map(|k| k.name()).collect();
            return Err(CoreError::InvalidArgument(format!(
                "kernel '{}' does not handle {} codes; expected one of {}",
                kernel.name(),
                self.name(),
                names.join(", ")
            )));
        }
        if !kernel.is_supported() {
            return Err(CoreError::KernelUnavailable(kernel.name()));
        }
        Ok(kernel)
    }
}

impl QuantKernel {
    pub const ALL: [QuantKernel; 6] = [
        QuantKernel::Scalar,
        QuantKernel::Avx2,
        QuantKernel::Avx512Bw,
        QuantKernel::Avx512Vnni,
        QuantKernel::Avx512Bf16,
        QuantKernel::Neon,
    ];

    pub fn name(self) -> &'static str {
        match self {
            QuantKernel::Scalar => "scalar",
            QuantKernel::Avx2 => "avx2",
            QuantKernel::Avx512Bw => "avx512bw",
            QuantKernel::Avx512Vnni => "avx512vnni",
            QuantKernel::Avx512Bf16 => "avx512bf16",
            QuantKernel::Neon => "neon",
        }
    }

    pub fn parse(name: &str) -> Result<QuantKernel, CoreError> {
        QuantKernel::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
            CoreError::InvalidArgument(format!(
                "unknown quantised kernel {name:?}; expected 'auto', 'scalar', 'avx2', 'avx512bw', 'avx512vnni', 'avx512bf16' or 'neon'"
            ))
        })
    }

    /// Whether this build contains the kernel and the running CPU can execute it.
    pub fn is_supported(self) -> bool {
        let f = cpu_features();
        let x86 = cfg!(target_arch = "x86_64");
        match self {
            QuantKernel::Scalar => true,
            QuantKernel::Avx2 => x86 && f.avx2 && f.fma,
            QuantKernel::Avx512Bw => x86 && f.avx512f && f.avx512bw,
            QuantKernel::Avx512Vnni => x86 && f.avx512f && f.avx512bw && f.avx512vnni,
            QuantKernel::Avx512Bf16 => x86 && f.avx512f && f.avx512bw && f.avx512bf16,
            QuantKernel::Neon => cfg!(target_arch = "aarch64") && f.neon,
        }
    }

    /// The int8 function of this kernel. Handing it out only after the CPU check is what makes
    /// calling the `#[target_feature]` code inside sound.
    pub fn int8(self) -> Result<Int8DotsFn, CoreError> {
        let kernel = Storage::Int8.resolve(Some(self.name()))?;
        Ok(match kernel {
            #[cfg(target_arch = "x86_64")]
            QuantKernel::Avx2 => super::x86::int8_dots_avx2,
            #[cfg(target_arch = "x86_64")]
            QuantKernel::Avx512Bw => super::x86::int8_dots_avx512bw,
            #[cfg(target_arch = "x86_64")]
            QuantKernel::Avx512Vnni => super::x86::int8_dots_vnni,
            #[cfg(target_arch = "aarch64")]
            QuantKernel::Neon => super::neon::int8_dots_neon,
            _ => int8_dots_scalar,
        })
    }

    /// The bf16 function of this kernel (see [`QuantKernel::int8`]).
    pub fn bf16(self) -> Result<Bf16DotsFn, CoreError> {
        let kernel = Storage::Bf16.resolve(Some(self.name()))?;
        Ok(match kernel {
            #[cfg(target_arch = "x86_64")]
            QuantKernel::Avx2 => super::x86::bf16_dots_avx2,
            #[cfg(target_arch = "x86_64")]
            QuantKernel::Avx512Bf16 => super::x86::bf16_dots_avx512bf16,
            _ => bf16_dots_scalar,
        })
    }
}

/// Shared argument check of every int8 kernel; returns the number of rows.
pub(crate) fn check_int8(q: &Int8Query, rows: &[i8], rowsums: &[i32], d: usize, out: &[i32]) -> usize {
    assert!(d > 0 && q.codes.len() == d && q.offset.len() == d && rows.len().is_multiple_of(d), "int8 dots: bad lengths");
    let nr = rows.len() / d;
    assert!(rowsums.len() >= nr && out.len() >= nr, "int8 dots: rowsums/out too short");
    nr
}

/// Shared argument check of every bf16 kernel; returns the number of rows.
pub(crate) fn check_bf16(q: &Bf16Query, rows: &[u16], d: usize, out: &[f32]) -> usize {
    assert!(d > 0 && q.bits.len() == d && q.widened.len() == d && rows.len().is_multiple_of(d), "bf16 dots: bad lengths");
    let nr = rows.len() / d;
    assert!(out.len() >= nr, "bf16 dots: out too short");
    nr
}

/// Portable int8 kernel (the reference every SIMD kernel must match exactly).
pub fn int8_dots_scalar(q: &Int8Query, rows: &[i8], rowsums: &[i32], d: usize, out: &mut [i32]) {
    let nr = check_int8(q, rows, rowsums, d, out);
    for (row, slot) in rows.chunks_exact(d).zip(&mut out[..nr]) {
        *slot = row.iter().zip(&q.codes).map(|(&a, &b)| a as i32 * b as i32).sum();
    }
}

/// Portable bf16 kernel: rows widened to f32, 8 partial sums (vectorises).
pub fn bf16_dots_scalar(q: &Bf16Query, rows: &[u16], d: usize, out: &mut [f32]) {
    let nr = check_bf16(q, rows, d, out);
    for (row, slot) in rows.chunks_exact(d).zip(&mut out[..nr]) {
        let mut acc = [0.0f32; 8];
        let (body, tail) = (row.len() / 8 * 8, row.len() % 8);
        for (chunk, qs) in row[..body].chunks_exact(8).zip(q.widened[..body].chunks_exact(8)) {
            for l in 0..8 {
                acc[l] += bf16_to_f32(chunk[l]) * qs[l];
            }
        }
        let mut sum: f32 = acc.iter().sum();
        for t in 0..tail {
            sum += bf16_to_f32(row[body + t]) * q.widened[body + t];
        }
        *slot = sum;
    }
}
