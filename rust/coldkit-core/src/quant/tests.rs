use super::*;
use crate::kernels::active;

fn lcg(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

fn codes(seed: &mut u64, len: usize) -> Vec<i8> {
    (0..len).map(|_| (lcg(seed) * 127.0).round() as i8).collect()
}

#[test]
fn every_int8_kernel_matches_the_scalar_integers_exactly() {
    let mut seed = 3;
    for d in [1usize, 5, 31, 32, 33, 63, 64, 65, 100, 128, 384, 700] {
        for nr in [1usize, 3, 4, 5, 9] {
            let q = Int8Query::new(codes(&mut seed, d));
            let mut rows = codes(&mut seed, nr * d);
            // Extremes: +-127 everywhere in one row (largest products).
            rows[..d].iter_mut().enumerate().for_each(|(i, c)| *c = if i % 2 == 0 { 127 } else { -127 });
            let sums = row_sums(&rows, d);
            let mut want = vec![0i32; nr];
            kernels::int8_dots_scalar(&q, &rows, &sums, d, &mut want);
            let brute: Vec<i32> = rows.chunks(d).map(|r| r.iter().zip(&q.codes).map(|(a, b)| *a as i32 * *b as i32).sum()).collect();
            assert_eq!(want, brute);
            for kernel in Storage::Int8.supported_kernels() {
                let mut got = vec![i32::MIN; nr];
                (kernel.int8().unwrap())(&q, &rows, &sums, d, &mut got);
                assert_eq!(got, want, "{kernel:?} d={d} nr={nr}");
            }
        }
    }
}

#[test]
fn every_bf16_kernel_matches_the_f64_reference() {
    let mut seed = 5;
    for d in [1usize, 7, 8, 31, 32, 33, 100, 384] {
        let nr = 6;
        let qv: Vec<f32> = (0..d).map(|_| lcg(&mut seed)).collect();
        let q = Bf16Query::new(&qv);
        let rows: Vec<u16> = (0..nr * d).map(|_| f32_to_bf16(lcg(&mut seed))).collect();
        for kernel in Storage::Bf16.supported_kernels() {
            let mut got = vec![f32::NAN; nr];
            (kernel.bf16().unwrap())(&q, &rows, d, &mut got);
            for (j, row) in rows.chunks(d).enumerate() {
                let want: f64 = row.iter().zip(&q.widened).map(|(c, w)| bf16_to_f32(*c) as f64 * *w as f64).sum();
                assert!((got[j] as f64 - want).abs() < 1e-5 * (d as f64).sqrt(), "{kernel:?} d={d} {} vs {want}", got[j]);
            }
        }
    }
}

#[test]
fn bf16_rounding_is_nearest_even() {
    assert_eq!(f32_to_bf16(1.0), 0x3f80);
    // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties go to even (1.0).
    assert_eq!(f32_to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
    assert_eq!(f32_to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
    assert_eq!(bf16_to_f32(0xbf80), -1.0);
}

fn brute_topk(q: &[f32], c: &[f32], d: usize, k: usize, metric: Metric, exclude: &[usize]) -> Vec<usize> {
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>().sqrt();
    let qn = if metric == Metric::Cosine { norm(q) } else { 1.0 };
    let mut all: Vec<(f64, usize)> = c
        .chunks(d)
        .enumerate()
        .filter(|(i, _)| !exclude.contains(i))
        .map(|(i, row)| {
            let rn = if metric == Metric::Cosine { norm(row) } else { 1.0 };
            (row.iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() / (qn * rn), i)
        })
        .collect();
    all.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
    all.into_iter().take(k).map(|x| x.1).collect()
}

#[test]
fn search_finds_the_exact_top_k_with_every_kernel_layout_and_thread_count() {
    let mut seed = 9;
    let (n, d, b, k) = (3000usize, 48usize, 5usize, 7usize);
    // A shared direction plus noise, like real embeddings.
    let common: Vec<f32> = (0..d).map(|_| lcg(&mut seed)).collect();
    let catalog: Vec<f32> = (0..n * d).map(|i| common[i % d] + 0.6 * lcg(&mut seed)).collect();
    let queries: Vec<f32> = (0..b * d).map(|i| common[i % d] + 0.6 * lcg(&mut seed)).collect();
    let excl: Vec<Vec<usize>> = (0..b).map(|i| vec![i, 100 + i, 2999]).collect();
    let exclusions = Exclusions::from_lists(excl.clone());
    for (storage, scale) in [(Storage::Int8, ScaleMode::PerVector), (Storage::Int8, ScaleMode::PerDimension), (Storage::Bf16, ScaleMode::PerVector)] {
        for metric in [Metric::Cosine, Metric::Dot] {
            let index = QuantizedIndex::build(&catalog, (n, d), storage, scale, metric, false, Some(2)).unwrap();
            for kernel in storage.supported_kernels() {
                for threads in [Some(1), Some(2), None] {
                    for use_excl in [false, true] {
                        let req = QuantSearch {
                            queries: &queries,
                            query_shape: (b, d),
                            exact: &catalog,
                            exact_shape: (n, d),
                            k,
                            shortlist: Some(100),
                            exclude: use_excl.then_some(&exclusions),
                            threads,
                            kernel: Some(kernel),
                            exact_kernel: active(),
                        };
                        let got = index.search(&req).unwrap();
                        let exact = topk(&TopkRequest {
                            queries: &queries,
                            query_shape: (b, d),
                            catalog: &catalog,
                            catalog_shape: (n, d),
                            k,
                            metric,
                            normalized: false,
                            exclude: use_excl.then_some(&exclusions),
                            threads: Some(1),
                            kernel: active(),
                        })
                        .unwrap();
                        for qi in 0..b {
                            let want = brute_topk(&queries[qi * d..(qi + 1) * d], &catalog, d, k, metric, if use_excl { &excl[qi] } else { &[] });
                            let ids: Vec<usize> = got.indices[qi * k..(qi + 1) * k].iter().map(|&i| i as usize).collect();
                            assert_eq!(ids, want, "{storage:?} {scale:?} {metric:?} {kernel:?} {threads:?}");
                        }
                        // The float32 path's scores (the batched path may differ by an ulp: its
                        // register blocks sum in another order).
                        for (g, e) in got.scores.iter().zip(&exact.scores) {
                            assert!((g - e).abs() <= 1e-6 * e.abs().max(1.0), "{storage:?} {kernel:?} {g} vs {e}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn exclusions_leave_padding_and_bad_requests_are_errors() {
    let d = 4;
    let catalog: Vec<f32> = (0..5 * d).map(|i| (i % 7) as f32 + 1.0).collect();
    let index = QuantizedIndex::build(&catalog, (5, d), Storage::Int8, ScaleMode::PerVector, Metric::Dot, false, None).unwrap();
    let q = vec![1.0f32; d];
    let ex = Exclusions::from_lists(vec![vec![0, 1, 2, 3]]);
    let base = QuantSearch {
        queries: &q,
        query_shape: (1, d),
        exact: &catalog,
        exact_shape: (5, d),
        k: 3,
        shortlist: None,
        exclude: Some(&ex),
        threads: Some(1),
        kernel: None,
        exact_kernel: active(),
    };
    let got = index.search(&base).unwrap();
    assert_eq!(got.indices, vec![4, -1, -1]);
    assert_eq!(&got.scores[1..], &[f32::NEG_INFINITY, f32::NEG_INFINITY]);
    assert!(matches!(index.search(&QuantSearch { k: 0, ..base }), Err(CoreError::InvalidK(0))));
    assert!(matches!(index.search(&QuantSearch { shortlist: Some(2), ..base }), Err(CoreError::InvalidArgument(_))));
    assert!(matches!(index.search(&QuantSearch { exact_shape: (4, d), ..base }), Err(CoreError::InvalidArgument(_))));
    let nan = vec![f32::NAN; d];
    assert!(matches!(index.search(&QuantSearch { queries: &nan, ..base }), Err(CoreError::NonFinite { .. })));
    assert!(matches!(
        index.search(&QuantSearch { kernel: Some(QuantKernel::Avx512Bf16), ..base }),
        Err(CoreError::InvalidArgument(_))
    ));
    let codes = index.int8_codes().unwrap().to_vec();
    let mut broken = codes.clone();
    broken[3] = i8::MIN;
    assert!(QuantizedIndex::from_int8_parts(broken, (5, d), index.scales().to_vec(), ScaleMode::PerVector, Metric::Dot, false).is_err());
    assert!(QuantizedIndex::from_int8_parts(codes.clone(), (5, d), vec![1.0; 3], ScaleMode::PerVector, Metric::Dot, false).is_err());
    assert!(QuantizedIndex::from_int8_parts(codes.clone(), (5, d), vec![f32::NAN; 5], ScaleMode::PerVector, Metric::Dot, false).is_err());
    let rebuilt = QuantizedIndex::from_int8_parts(codes, (5, d), index.scales().to_vec(), ScaleMode::PerVector, Metric::Dot, false).unwrap();
    assert_eq!(rebuilt.int8_rowsums(), index.int8_rowsums());
    assert!(QuantizedIndex::from_bf16_parts(vec![0x7f80; 4], (1, 4), Metric::Dot, false).is_err());
    assert_eq!(index.nbytes(), 5 * d + 4 * 5 + 4 * 5);
}

#[test]
fn tiny_and_huge_vectors_keep_the_exact_top_k() {
    // Dot products are scale-free for ranking, but the scan was not: a query of |q| ~ 1e-20
    // against rows of the same size made products below f32's normal range, which the AVX-512
    // BF16 instruction flushes to zero, and a query below ~4e-37 overflowed int8's reciprocal;
    // every item then scored 0 and the top-k was the catalogue's first rows. A query near
    // f32::MAX rounded to an infinite bf16 code. The exact float32 scan ranks all of these.
    let mut seed = 21;
    let (n, d, b, k) = (2000usize, 32usize, 6usize, 10usize);
    let base_c: Vec<f32> = (0..n * d).map(|_| lcg(&mut seed)).collect();
    let base_q: Vec<f32> = (0..b * d).map(|_| lcg(&mut seed)).collect();
    let cases: [(f32, f32); 6] = [(1e-20, 1e-20), (1e-19, 1e-19), (1e-42, 1.0), (1e-39, 1.0), (1.0, 1e-30), (3.3e38, 1e-30)];
    for (q_scale, c_scale) in cases {
        let catalog: Vec<f32> = base_c.iter().map(|x| x * c_scale).collect();
        let queries: Vec<f32> = base_q.iter().map(|x| x * q_scale).collect();
        let exact = topk(&TopkRequest {
            queries: &queries,
            query_shape: (b, d),
            catalog: &catalog,
            catalog_shape: (n, d),
            k,
            metric: Metric::Dot,
            normalized: false,
            exclude: None,
            threads: Some(1),
            kernel: active(),
        })
        .unwrap();
        for (storage, scale) in [(Storage::Int8, ScaleMode::PerVector), (Storage::Int8, ScaleMode::PerDimension), (Storage::Bf16, ScaleMode::PerVector)] {
            let index = QuantizedIndex::build(&catalog, (n, d), storage, scale, Metric::Dot, false, Some(1)).unwrap();
            for kernel in storage.supported_kernels() {
                let req = QuantSearch {
                    queries: &queries,
                    query_shape: (b, d),
                    exact: &catalog,
                    exact_shape: (n, d),
                    k,
                    shortlist: None,
                    exclude: None,
                    threads: Some(1),
                    kernel: Some(kernel),
                    exact_kernel: active(),
                };
                let got = index.search(&req).unwrap();
                assert_eq!(got.indices, exact.indices, "q x {q_scale:e}, catalogue x {c_scale:e}: {storage:?} {scale:?} {kernel:?}");
            }
        }
    }
}

#[test]
fn an_approximate_score_out_of_range_falls_back_to_the_exact_scan() {
    // One row near f32::MAX and a query near f32::MIN_POSITIVE: every exact score is finite (3.4, 1e-38, 0),
    // but the codes' scales multiplied out of float32's range and the search was refused as an overflow.
    let catalog = [3.4e38f32, 0.0, 1.0, 0.0, 0.0, 1.0];
    let queries = [1e-38f32, 0.0];
    let exact = topk(&TopkRequest {
        queries: &queries,
        query_shape: (1, 2),
        catalog: &catalog,
        catalog_shape: (3, 2),
        k: 3,
        metric: Metric::Dot,
        normalized: false,
        exclude: None,
        threads: Some(1),
        kernel: active(),
    })
    .unwrap();
    assert_eq!(exact.indices, vec![0, 1, 2]);
    for (storage, scale) in [(Storage::Int8, ScaleMode::PerVector), (Storage::Int8, ScaleMode::PerDimension), (Storage::Bf16, ScaleMode::PerVector)] {
        let index = QuantizedIndex::build(&catalog, (3, 2), storage, scale, Metric::Dot, false, Some(1)).unwrap();
        for kernel in storage.supported_kernels() {
            let req = QuantSearch {
                queries: &queries,
                query_shape: (1, 2),
                exact: &catalog,
                exact_shape: (3, 2),
                k: 3,
                shortlist: None,
                exclude: None,
                threads: Some(1),
                kernel: Some(kernel),
                exact_kernel: active(),
            };
            let got = index.search(&req).unwrap();
            assert_eq!((got.indices, got.scores), (exact.indices.clone(), exact.scores.clone()), "{storage:?} {scale:?} {kernel:?}");
        }
    }
}
