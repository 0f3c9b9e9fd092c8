//! SIMD kernels and their runtime dispatch.
//!
//! Every kernel implements the same two operations on row-major float32 data:
//! * `dot(a, b)`: one inner product;
//! * `tile(queries, rows, d, out)`: the inner products of every query row with every catalogue
//!   row of a small block, written to `out[i * n_rows + j]`. The fused top-k scan calls it on
//!   cache-sized blocks, so a block of scores is consumed while it is still in L1.
//!
//! The best kernel the CPU supports is detected once and cached as a `&'static KernelImpl`
//! (a table of plain function pointers); callers may force another kernel per call (tests do).

use std::sync::OnceLock;

use crate::error::CoreError;

pub mod scalar;
#[cfg(target_arch = "x86_64")]
pub mod x86;
#[cfg(target_arch = "aarch64")]
pub mod neon;

/// `dot(a, b)`; `a.len() == b.len()`.
pub type DotFn = fn(&[f32], &[f32]) -> f32;
/// `tile(queries, rows, d, out)`: `out[i * (rows.len() / d) + j] = dot(query i, row j)`.
pub type TileFn = fn(&[f32], &[f32], usize, &mut [f32]);
/// The GEMM-style batch kernel: scores of `queries` against catalogue rows packed by
/// [`pack_panels`], filtered against each query's current threshold as they are produced.
pub type PackedTileFn = fn(&mut PackedTile<'_>);

/// Arguments of a [`PackedTileFn`].
///
/// For query `i` and padded row `j < panels.len() / d`: `out[i * ldo + j]` = inner product,
/// times `scales[j]` when `scales` is not empty. `hits[i * n_panels + p]` is set to whether any
/// score of panel `p` could enter query `i`'s top-k: `!(score <= thresholds[i])` (true for NaN
/// and +inf) or `score == -inf`, so the caller only looks at panels with a hit.
pub struct PackedTile<'a> {
    pub queries: &'a [f32],
    pub panels: &'a [f32],
    pub d: usize,
    pub scales: &'a [f32],
    pub thresholds: &'a [f32],
    pub out: &'a mut [f32],
    pub ldo: usize,
    pub hits: &'a mut [bool],
    /// Memory the caller will need next (the next catalogue block's share): the kernel may
    /// prefetch it into cache while it computes, overlapping the memory read with FMAs.
    pub prefetch: &'a [f32],
}

/// The kernel families coldkit ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Scalar,
    Avx2,
    Avx512,
    Neon,
}

impl Kernel {
    pub const ALL: [Kernel; 4] = [Kernel::Scalar, Kernel::Avx2, Kernel::Avx512, Kernel::Neon];

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
            Kernel::Neon => "neon",
        }
    }

    /// Parse a kernel name; `"auto"` means the best supported one.
    pub fn parse(name: &str) -> Result<Kernel, CoreError> {
        match name {
            "auto" => Ok(active().kind),
            "scalar" => Ok(Kernel::Scalar),
            "avx2" => Ok(Kernel::Avx2),
            "avx512" => Ok(Kernel::Avx512),
            "neon" => Ok(Kernel::Neon),
            other => Err(CoreError::UnknownKernel(other.to_string())),
        }
    }

    /// Whether this build contains the kernel and the running CPU can execute it.
    pub fn is_supported(self) -> bool {
        let features = cpu_features();
        match self {
            Kernel::Scalar => true,
            Kernel::Avx2 => cfg!(target_arch = "x86_64") && features.avx2 && features.fma,
            Kernel::Avx512 => cfg!(target_arch = "x86_64") && features.avx512f,
            Kernel::Neon => cfg!(target_arch = "aarch64") && features.neon,
        }
    }
}

/// A kernel's function table.
#[derive(Debug)]
pub struct KernelImpl {
    pub kind: Kernel,
    pub dot: DotFn,
    pub tile: TileFn,
    /// The GEMM-style batch kernel and its panel width (rows per packed panel), if any.
    pub packed: Option<(PackedTileFn, usize)>,
    /// Packs catalogue rows for `packed` (see [`pack_panels`]).
    pub pack: PackFn,
}

/// `pack(block, d, width, out)`: see [`pack_panels`].
pub type PackFn = fn(&[f32], usize, usize, &mut Vec<f32>);

static SCALAR: KernelImpl = KernelImpl { kind: Kernel::Scalar, dot: scalar::dot, tile: scalar::tile, packed: None, pack: pack_panels };

#[cfg(target_arch = "x86_64")]
static AVX2: KernelImpl = KernelImpl {
    kind: Kernel::Avx2,
    dot: x86::dot_avx2,
    tile: x86::tile_avx2,
    packed: Some((x86::packed_tile_avx2, x86::PANEL_AVX2)),
    pack: pack_panels,
};
#[cfg(target_arch = "x86_64")]
static AVX512: KernelImpl = KernelImpl {
    kind: Kernel::Avx512,
    dot: x86::dot_avx512,
    tile: x86::tile_avx512,
    packed: Some((x86::packed_tile_avx512, x86::PANEL_AVX512)),
    pack: x86::pack_panels_avx512,
};
#[cfg(target_arch = "aarch64")]
static NEON: KernelImpl = KernelImpl { kind: Kernel::Neon, dot: neon::dot, tile: neon::tile, packed: None, pack: pack_panels };

/// Pack catalogue rows (row-major, `d` columns) into panels of `width` rows stored
/// dimension-major: panel `p` holds, for each dimension `t`, the `width` values
/// `row[p * width + r][t]` side by side (missing rows are zeros). A batch kernel then loads
/// `width` rows' worth of one dimension with a single vector load and multiplies it by a
/// broadcast query value: no horizontal sums, each load feeds one FMA per query.
pub fn pack_panels(block: &[f32], d: usize, width: usize, out: &mut Vec<f32>) {
    let rows = block.len() / d;
    let panels = rows.div_ceil(width);
    out.clear();
    out.resize(panels * width * d, 0.0);
    for (r, row) in block.chunks_exact(d).enumerate() {
        let (p, lane) = (r / width, r % width);
        let panel = &mut out[p * width * d..(p + 1) * width * d];
        for (t, &value) in row.iter().enumerate() {
            panel[t * width + lane] = value;
        }
    }
}

/// The function table of `kind`, or an error if this CPU cannot run it.
///
/// The SIMD tables call `#[target_feature]` code; handing one out only after the feature check
/// is what makes calling them sound.
pub fn kernel_impl(kind: Kernel) -> Result<&'static KernelImpl, CoreError> {
    if !kind.is_supported() {
        return Err(CoreError::KernelUnavailable(kind.name()));
    }
    match kind {
        Kernel::Scalar => Ok(&SCALAR),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => Ok(&AVX2),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => Ok(&AVX512),
        #[cfg(target_arch = "aarch64")]
        Kernel::Neon => Ok(&NEON),
        #[allow(unreachable_patterns)]
        _ => Err(CoreError::KernelUnavailable(kind.name())),
    }
}

/// Resolve an optional kernel name (None or "auto" = the detected best).
pub fn resolve(name: Option<&str>) -> Result<&'static KernelImpl, CoreError> {
    match name {
        None | Some("auto") => Ok(active()),
        Some(name) => kernel_impl(Kernel::parse(name)?),
    }
}

/// The best kernel for this CPU, chosen on first use and cached.
pub fn active() -> &'static KernelImpl {
    static ACTIVE: OnceLock<&'static KernelImpl> = OnceLock::new();
    ACTIVE.get_or_init(|| {
        for kind in [Kernel::Avx512, Kernel::Avx2, Kernel::Neon] {
            if let Ok(table) = kernel_impl(kind) {
                return table;
            }
        }
        &SCALAR
    })
}

/// The CPU features the kernels care about.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuFeatures {
    pub sse42: bool,
    pub avx2: bool,
    pub fma: bool,
    pub avx512f: bool,
    pub avx512bw: bool,
    pub avx512vnni: bool,
    pub avx512bf16: bool,
    pub neon: bool,
}

/// Detected once; `std::arch` caches the CPUID results itself but the struct is handy to report.
pub fn cpu_features() -> CpuFeatures {
    static FEATURES: OnceLock<CpuFeatures> = OnceLock::new();
    *FEATURES.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> CpuFeatures {
    CpuFeatures {
        sse42: is_x86_feature_detected!("sse4.2"),
        avx2: is_x86_feature_detected!("avx2"),
        fma: is_x86_feature_detected!("fma"),
        avx512f: is_x86_feature_detected!("avx512f"),
        avx512bw: is_x86_feature_detected!("avx512bw"),
        avx512vnni: is_x86_feature_detected!("avx512vnni"),
        avx512bf16: is_x86_feature_detected!("avx512bf16"),
        neon: false,
    }
}

#[cfg(target_arch = "aarch64")]
fn detect() -> CpuFeatures {
    CpuFeatures { neon: std::arch::is_aarch64_feature_detected!("neon"), ..CpuFeatures::default() }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect() -> CpuFeatures {
    CpuFeatures::default()
}

/// Kernels this build and CPU can run, best last.
pub fn supported_kernels() -> Vec<Kernel> {
    Kernel::ALL.into_iter().filter(|k| k.is_supported()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn reference_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // mirrors the kernels' NaN-aware test
    fn every_supported_kernel_matches_the_f64_reference() {
        let mut seed = 7;
        for kind in supported_kernels() {
            let table = kernel_impl(kind).unwrap();
            for d in [1usize, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 384] {
                for (nq, nr) in [(1usize, 1usize), (1, 9), (3, 5), (4, 4), (5, 13), (9, 8), (8, 17), (13, 33), (25, 40), (12, 16)] {
                    let q: Vec<f32> = (0..nq * d).map(|_| lcg(&mut seed)).collect();
                    let r: Vec<f32> = (0..nr * d).map(|_| lcg(&mut seed)).collect();
                    let mut out = vec![f32::NAN; nq * nr];
                    (table.tile)(&q, &r, d, &mut out);
                    if let Some((packed_tile, width)) = table.packed {
                        let mut panels = Vec::new();
                        (table.pack)(&r, d, width, &mut panels);
                        let mut reference = Vec::new();
                        pack_panels(&r, d, width, &mut reference);
                        assert_eq!(panels, reference, "{kind:?} pack");
                        let ldo = panels.len() / d;
                        let n_panels = ldo / width;
                        let scales: Vec<f32> = (0..ldo).map(|j| 0.5 + (j % 3) as f32).collect();
                        let thresholds: Vec<f32> = (0..nq).map(|i| if i % 2 == 0 { f32::NEG_INFINITY } else { 0.5 }).collect();
                        for scaled in [false, true] {
                            let mut packed_out = vec![f32::NAN; nq * ldo];
                            let mut hits = vec![false; nq * n_panels];
                            packed_tile(&mut PackedTile {
                                queries: &q,
                                panels: &panels,
                                d,
                                scales: if scaled { &scales } else { &[] },
                                thresholds: &thresholds,
                                out: &mut packed_out,
                                ldo,
                                hits: &mut hits,
                                prefetch: &r,
                            });
                            for i in 0..nq {
                                for p in 0..n_panels {
                                    let lanes = &packed_out[i * ldo + p * width..i * ldo + (p + 1) * width];
                                    let want_hit = lanes.iter().any(|s| !(*s <= thresholds[i]) || *s == f32::NEG_INFINITY);
                                    assert_eq!(hits[i * n_panels + p], want_hit, "{kind:?} hit flag");
                                }
                                for j in 0..nr {
                                    let scale = if scaled { scales[j] } else { 1.0 };
                                    let (a, b) = (packed_out[i * ldo + j], out[i * nr + j] * scale);
                                    assert!((a - b).abs() <= 1e-4 * (d as f32).sqrt() * scale, "{kind:?} packed {a} vs {b}");
                                }
                            }
                        }
                    }
                    for i in 0..nq {
                        for j in 0..nr {
                            let want = reference_dot(&q[i * d..(i + 1) * d], &r[j * d..(j + 1) * d]);
                            let got = out[i * nr + j];
                            assert!(
                                (got as f64 - want).abs() <= 1e-5 * (d as f64).sqrt() + 1e-6,
                                "{kind:?} d={d} ({i},{j}) {got} vs {want}"
                            );
                            let single = (table.dot)(&q[i * d..(i + 1) * d], &r[j * d..(j + 1) * d]);
                            assert!((single as f64 - want).abs() <= 1e-5 * (d as f64).sqrt() + 1e-6);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn forcing_an_unsupported_or_unknown_kernel_is_an_error() {
        assert!(matches!(Kernel::parse("sse9"), Err(CoreError::UnknownKernel(_))));
        for kind in Kernel::ALL {
            assert_eq!(kernel_impl(kind).is_ok(), kind.is_supported());
        }
        assert!(Kernel::Scalar.is_supported());
    }
}
