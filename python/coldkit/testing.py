"""Conformance kit for plugin authors: does my encoder / backend / fusion / model behave like coldkit's?

Each ``check_*`` function builds the component (from a registered name, or takes an instance), runs
behavioural checks against independent references (numpy exact top-k, hand-built data with a known
answer) and raises :class:`AssertionError` naming the failed property, e.g.
``"[backend 'mine'] exclusions: row 2 returned excluded item 7"``. Call them from your plugin's tests::

    from coldkit.testing import check_backend, check_encoder, check_fusion, check_model

    def test_my_encoder_conforms():
        check_encoder("my-encoder")             # a registered name (the entry point is wired), or
        check_encoder(MyEncoder(dim=64))        # an instance

    def test_my_model_conforms():
        check_model("my-model", options={"alpha": 0.5})

Everything runs in a second or two on a CPU (tiny synthetic data), except what the component itself
costs (a neural encoder's forward passes). The kit imports nothing heavy beyond numpy/pandas/scipy.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from coldkit.exceptions import ColdkitError, ComponentContractError, InvalidInputError
from coldkit.plugins.manager import get_encoder, get_fusion, get_reranker, get_similarity_backend, registry
from coldkit.plugins.types import Encoder, FusionStrategy, Ranked, SimilarityBackend
from coldkit.similarity import _resolve_backend, topk_by_overfetch

__all__ = ["check_encoder", "check_backend", "check_fusion", "check_reranker", "check_model", "synthetic_interactions", "TOPICS",
           "TOPIC_TEXTS"]


def _fail(where: str, prop: str, detail: str) -> AssertionError:
    return AssertionError(f"[{where}] {prop}: {detail}")


def _check(condition: bool, where: str, prop: str, detail: str) -> None:
    if not condition:
        raise _fail(where, prop, detail)


def _raises(call: Callable[[], Any], errors: tuple[type[BaseException], ...], where: str, prop: str) -> None:
    """``call()`` must raise one of ``errors`` (a clear coldkit error, not a numpy traceback)."""
    try:
        call()
    except errors:
        return
    except Exception as exc:  # noqa: BLE001 - reported as the failed property
        raise _fail(where, prop, f"raised {type(exc).__name__}: {exc} (expected {', '.join(e.__name__ for e in errors)})") from exc
    raise _fail(where, prop, f"no error raised (expected {', '.join(e.__name__ for e in errors)})")


def _capabilities(kind: str, name: str | None) -> frozenset[str]:
    if name is None or name not in registry(kind):
        return frozenset()
    return frozenset(registry(kind).get(name).capabilities)


# ============================================================================ encoders

SAMPLE_TEXTS: tuple[str, ...] = (
    "a basketball game between two city teams",
    "basketball players score in the final game",
    "a violin concerto played by the symphony orchestra",
    "slow cooked tomato soup with fresh basil",
    "Ünïcode títle — with 表記 and emoji 🎬",
    "x",
)


def check_encoder(
    encoder: str | Encoder,
    *,
    options: Mapping[str, Any] | None = None,
    semantic: bool = True,
    atol: float = 1e-4,
) -> Encoder:
    """Check the encoder contract (see :mod:`coldkit.encoding`); returns the encoder it checked.

    Properties: ``name``/``dim``/``modalities``/``fingerprint`` present; ``encode_texts`` gives a
    C-contiguous float32 ``(n, dim)`` array, finite, unit rows for non-empty texts and zero rows
    for empty/whitespace ones; ``[]`` gives ``(0, dim)``; the same text gives the same vector
    (twice, and alone vs inside a batch, within ``atol``); the fingerprint is a non-empty string,
    stable across calls and equal for two encoders built with the same options; ``None``, a
    non-string element and a bare string raise :class:`InvalidInputError`; the list of texts is left
    as it was given. With ``semantic``
    (turn off for random-weight test models), two texts about basketball are closer than
    basketball and a violin concerto. Image encoders also get ``encode_images`` checks, audio
    encoders ``encode_audio`` checks on WAV files the kit writes (see :func:`_check_audio`). An
    image-only or audio-only encoder (no ``"text"`` in ``modalities``) skips the text checks and must
    refuse ``encode_texts`` with :class:`InvalidInputError`.

    Args:
        encoder: a registered name (built with ``options``) or an instance.
    """
    name = encoder if isinstance(encoder, str) else None
    enc: Any = get_encoder(encoder, **dict(options or {})) if isinstance(encoder, str) else encoder
    where = f"encoder {getattr(enc, 'name', type(enc).__name__)!r}"
    _check(isinstance(enc, Encoder), where, "protocol",
           "missing " + ", ".join(a for a in ("name", "dim", "modalities", "fingerprint", "encode_texts") if not hasattr(enc, a))
           + " (an encoder has name, dim, modalities (e.g. frozenset({'text'})), fingerprint and encode_texts)")
    _check(isinstance(enc.name, str) and bool(enc.name), where, "name", f"must be a non-empty str, got {enc.name!r}")
    _check(isinstance(enc.dim, (int, np.integer)) and bool(enc.dim >= 1), where, "dim", f"must be an int >= 1, got {enc.dim!r}")
    modalities = set(enc.modalities)
    # an image-only encoder (image-stats) could not pass: "must include 'text' (or 'audio')", although
    # coldkit uses one wherever an image column is encoded
    _check(bool(modalities & {"text", "image", "audio"}), where, "modalities",
           f"must include 'text', 'image' or 'audio', got {modalities}")

    fit = getattr(enc, "fit", None)
    if callable(fit):  # corpus-fitted encoders (TF-IDF) learn from the catalogue first
        fit(list(SAMPLE_TEXTS))
    fingerprint = enc.fingerprint
    _check(isinstance(fingerprint, str) and bool(fingerprint), where, "fingerprint", f"must be a non-empty str, got {fingerprint!r}")
    twin: Any = None
    if name is not None:
        twin = get_encoder(name, **dict(options or {}))
        if callable(getattr(twin, "fit", None)):
            twin.fit(list(SAMPLE_TEXTS))
        _check(twin.fingerprint == fingerprint, where, "fingerprint", "two encoders built with the same options have different fingerprints")

    if "text" in modalities:
        _check_texts(enc, twin, where, atol, semantic)
    else:
        _raises(partial(enc.encode_texts, [SAMPLE_TEXTS[0]]), (InvalidInputError,), where, "encode_texts without a text modality")
    _check(enc.fingerprint == fingerprint, where, "fingerprint stability", "the fingerprint changed while encoding")
    if "image" in modalities:
        _check_images(enc, where, atol)
    if "audio" in modalities:
        _check_audio(enc, twin, where, atol, semantic)
    return enc  # type: ignore[no-any-return]


def _check_texts(enc: Any, twin: Any, where: str, atol: float, semantic: bool) -> None:
    texts = [*SAMPLE_TEXTS, "", "   \n\t"]
    out = enc.encode_texts(texts)
    _check(texts == [*SAMPLE_TEXTS, "", "   \n\t"], where, "inputs unchanged",
           "encode_texts changed the list it was given (coldkit encodes the caller's own lists of item texts)")
    _check(isinstance(out, np.ndarray), where, "output type", f"encode_texts must return a numpy array, got {type(out).__name__}")
    _check(out.dtype == np.float32, where, "dtype", f"must be float32, got {out.dtype}")
    _check(out.shape == (len(texts), enc.dim), where, "shape", f"expected {(len(texts), enc.dim)}, got {out.shape}")
    _check(bool(out.flags.c_contiguous), where, "layout", "the array must be C-contiguous")
    _check(bool(np.isfinite(out).all()), where, "finite", "vectors hold NaN or inf")
    norms = np.linalg.norm(out.astype(np.float64), axis=1)
    bad = [i for i in range(len(SAMPLE_TEXTS)) if abs(norms[i] - 1.0) > 1e-3]
    _check(not bad, where, "L2 norm", f"rows of non-empty texts must have unit norm; rows {bad} have {norms[bad].round(4).tolist()}")
    _check(bool(np.all(out[len(SAMPLE_TEXTS):] == 0)), where, "empty text", "an empty or whitespace text must give a zero row")

    again = enc.encode_texts(texts)
    _check(np.allclose(out, again, atol=atol), where, "determinism", "encoding the same texts twice gave different vectors")
    alone = enc.encode_texts([SAMPLE_TEXTS[2]])
    _check(
        np.allclose(alone[0], out[2], atol=max(atol, 1e-3)), where, "batch independence",
        f"a text encoded alone differs from the same text inside a batch (max diff {np.abs(alone[0] - out[2]).max():.2e})",
    )
    same = enc.encode_texts([SAMPLE_TEXTS[0], SAMPLE_TEXTS[0]])
    _check(np.allclose(same[0], same[1], atol=atol), where, "identical texts", "the same text twice in one batch gave different rows")

    empty = enc.encode_texts([])
    _check(
        isinstance(empty, np.ndarray) and empty.shape == (0, enc.dim) and empty.dtype == np.float32,
        where, "empty list", f"encode_texts([]) must give float32 (0, {enc.dim}), got {getattr(empty, 'shape', empty)!r}",
    )
    if twin is not None:
        _check(np.allclose(twin.encode_texts(texts), out, atol=max(atol, 1e-3)), where, "equal fingerprints",
               "two encoders with equal fingerprints gave different vectors")

    for bad_input, what in (([SAMPLE_TEXTS[0], None], "None"), ([SAMPLE_TEXTS[0], 42], "a non-string"), (SAMPLE_TEXTS[0], "a bare str")):
        _raises(partial(enc.encode_texts, bad_input), (InvalidInputError,), where, f"bad input ({what})")

    if semantic:
        sims = out[:3] @ out[:3].T
        _check(
            sims[0, 1] > sims[0, 2], where, "semantic sanity",
            f"two basketball texts ({sims[0, 1]:.3f}) must be closer than basketball vs violin ({sims[0, 2]:.3f})",
        )


def _check_images(enc: Any, where: str, atol: float) -> None:
    from PIL import Image

    images = [Image.new("RGB", (32, 32), color) for color in ((255, 0, 0), (0, 0, 255), (255, 0, 0))]
    out = enc.encode_images(images)
    _check(out.dtype == np.float32 and out.shape == (3, enc.dim), where, "encode_images shape/dtype",
           f"expected float32 {(3, enc.dim)}, got {out.dtype} {out.shape}")
    norms = np.linalg.norm(out.astype(np.float64), axis=1)
    _check(bool(np.all(np.abs(norms - 1.0) < 1e-3)), where, "encode_images L2 norm", f"row norms {norms.round(4).tolist()}")
    _check(np.allclose(out[0], out[2], atol=max(atol, 1e-3)), where, "encode_images determinism", "equal images gave different rows")
    _raises(lambda: enc.encode_images(["/nonexistent/coldkit-missing-image.png"]), (InvalidInputError,), where, "missing image")


def _write_wav(path: Path, wave: np.ndarray, rate: int) -> str:
    """16-bit PCM WAV through the standard library (the kit needs no audio package); ``wave`` is (n,) or (n, channels)."""
    import wave as wavefile

    samples = np.atleast_2d(wave.T).T  # (n, channels)
    with wavefile.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[1])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.round(np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return str(path)


def _tone(frequency: float, seconds: float, rate: int, amplitude: float) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate)


def _check_audio(enc: Any, twin: Any, where: str, atol: float, semantic: bool) -> None:
    """``encode_audio`` on WAV files written here: shape/dtype/layout, unit rows, equal files give
    equal rows (also alone vs in a batch, and across two encoders with one fingerprint), ``[]``
    gives ``(0, dim)``, a stereo 44.1 kHz file is accepted (mix-down, resampling), and a missing
    file, undecodable bytes, a WAV with no samples, a non-path element and a bare path raise
    :class:`InvalidInputError`. With ``semantic``: one tone at two loudnesses is closer than the
    tone and white noise."""
    import tempfile

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="coldkit-audio-check-") as tmp:
        root = Path(tmp)
        loud = _write_wav(root / "a440-loud.wav", _tone(440.0, 1.0, 16000, 0.5), 16000)
        copy = _write_wav(root / "a440-copy.wav", _tone(440.0, 1.0, 16000, 0.5), 16000)
        quiet = _write_wav(root / "a440-quiet.wav", _tone(440.0, 1.0, 16000, 0.1), 16000)
        noise = _write_wav(root / "noise.wav", 0.3 * np.clip(rng.standard_normal(16000), -3, 3) / 3, 16000)
        stereo = _write_wav(root / "stereo.wav", np.stack([_tone(660.0, 0.5, 44100, 0.4), _tone(990.0, 0.5, 44100, 0.4)], axis=1), 44100)
        files = [loud, copy, quiet, noise, stereo]
        out = enc.encode_audio(files)
        _check(isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (len(files), enc.dim), where,
               "encode_audio shape/dtype", f"expected float32 {(len(files), enc.dim)}, got {getattr(out, 'dtype', None)} {getattr(out, 'shape', out)}")
        _check(bool(out.flags.c_contiguous), where, "encode_audio layout", "the array must be C-contiguous")
        _check(bool(np.isfinite(out).all()), where, "encode_audio finite", "vectors hold NaN or inf")
        norms = np.linalg.norm(out.astype(np.float64), axis=1)
        _check(bool(np.all(np.abs(norms - 1.0) < 1e-3)), where, "encode_audio L2 norm", f"row norms {norms.round(4).tolist()}")
        _check(np.allclose(out[0], out[1], atol=max(atol, 1e-3)), where, "encode_audio determinism", "two identical files gave different rows")
        alone = enc.encode_audio([noise])
        _check(np.allclose(alone[0], out[3], atol=max(atol, 1e-3)), where, "encode_audio batch independence",
               "a file encoded alone differs from the same file inside a batch")
        if twin is not None:
            _check(np.allclose(twin.encode_audio(files), out, atol=max(atol, 1e-3)), where, "encode_audio equal fingerprints",
                   "two encoders with equal fingerprints gave different vectors")
        empty = enc.encode_audio([])
        _check(isinstance(empty, np.ndarray) and empty.shape == (0, enc.dim) and empty.dtype == np.float32, where,
               "encode_audio empty list", f"encode_audio([]) must give float32 (0, {enc.dim}), got {getattr(empty, 'shape', empty)!r}")
        if semantic:
            sims = out @ out.T
            _check(sims[0, 2] > sims[0, 3], where, "encode_audio semantic sanity",
                   f"one tone at two loudnesses ({sims[0, 2]:.3f}) must be closer than the tone and white noise ({sims[0, 3]:.3f})")

        garbage = root / "garbage.wav"
        garbage.write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot really audio" + bytes(range(256)))
        silent = _write_wav(root / "no-samples.wav", np.zeros(0), 16000)
        for bad_input, what in (
            ([loud, str(root / "missing.wav")], "missing file"),
            ([loud, str(garbage)], "undecodable file"),
            ([loud, silent], "zero-length file"),
            ([loud, 42], "a non-path"),
            (loud, "a bare path"),
        ):
            _raises(partial(enc.encode_audio, bad_input), (InvalidInputError,), where, f"encode_audio bad input ({what})")


# ============================================================================ similarity backends

_METRICS = ("dot", "cosine", "pearson")


def _reference_scores(queries: np.ndarray, catalog: np.ndarray, metric: str) -> np.ndarray:
    q, c = queries.astype(np.float64), catalog.astype(np.float64)
    if metric == "pearson":
        q = q - q.mean(axis=1, keepdims=True)
        c = c - c.mean(axis=1, keepdims=True)
    if metric in ("cosine", "pearson"):
        qn, cn = np.linalg.norm(q, axis=1, keepdims=True), np.linalg.norm(c, axis=1, keepdims=True)
        q = np.divide(q, qn, out=np.zeros_like(q), where=qn > 0)
        c = np.divide(c, cn, out=np.zeros_like(c), where=cn > 0)
    return q @ c.T


def _reference_topk(scores: np.ndarray, k: int, exclude: Sequence[np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k, ties to the lower index, padded with -inf / -1."""
    b, n = scores.shape
    width = min(k, n)
    out_s = np.full((b, width), -np.inf)
    out_i = np.full((b, width), -1, dtype=np.int64)
    for r in range(b):
        row = scores[r].copy()
        if exclude is not None:
            row[np.asarray(exclude[r], dtype=np.int64)] = -np.inf
        order = np.lexsort((np.arange(n), -row))[:width]
        valid = np.isfinite(row[order])
        out_s[r, : valid.sum()] = row[order][valid]
        out_i[r, : valid.sum()] = order[valid]
    return out_s, out_i


def check_backend(
    backend: str | SimilarityBackend,
    *,
    options: Mapping[str, Any] | None = None,
    approximate: bool | None = None,
    recall_floor: float = 0.9,
    metrics: Sequence[str] | None = None,
    seed: int = 0,
) -> SimilarityBackend:
    """Check a similarity backend's ``topk`` against a numpy exact top-k; returns the backend.

    Properties: float32 scores and int64 indices of shape ``(B, min(k, N))``; scores equal the
    true metric of the returned items and are sorted best first; no duplicates; excluded items
    never returned (a backend without the ``"exclude"`` capability gets none: the kit over-fetches
    and filters for it, as :func:`coldkit.topk` does); rows with fewer eligible items padded with ``-inf`` / ``-1`` at the end;
    ``k > N`` gives ``N`` columns; ``normalized=True`` on unit rows equals cosine. Exact backends
    must return the reference's items, ties broken to the lower index; approximate ones (the
    ``"approximate"`` capability, or ``approximate=True``) must reach ``recall_floor`` recall@k
    on clustered data. ``metrics`` defaults to the ones named in the backend's capabilities
    (``dot``/``cosine``/``pearson``), else ``dot`` and ``cosine``. Every call leaves its queries,
    catalogue and exclusions as they were given.
    """
    name = backend if isinstance(backend, str) else None
    impl: Any = get_similarity_backend(backend, **dict(options or {})) if isinstance(backend, str) else backend
    where = f"backend {getattr(impl, 'name', name or type(impl).__name__)!r}"
    _check(isinstance(impl, SimilarityBackend), where, "protocol", "missing name or topk()")
    caps = _capabilities("similarity_backend", name) | frozenset(getattr(impl, "capabilities", ()) or ())
    approx = ("approximate" in caps) if approximate is None else approximate
    chosen = list(metrics) if metrics is not None else [m for m in _METRICS if m in caps] or ["dot", "cosine"]
    # Exclusions reach the backend the way coldkit.topk hands them over: a backend that does not
    # declare "exclude" never sees them (topk over-fetches for it), so checking it with them
    # failed a backend the documented contract allows. Same rule as topk: unknown capabilities
    # (no declaration, no registry entry) mean the backend gets them.
    # by the name it was given, as coldkit.topk(backend=NAME) reads them: looked up by the object's own
    # ``name`` (another string than the registered one), a backend without "exclude" was handed exclusions
    # (the registry's spec, not a second backend built without the options)
    declared = frozenset(registry("similarity_backend").get(name).capabilities) if name is not None else _resolve_backend(impl)[1]
    skips_exclusions = declared is None or "exclude" in declared
    rng = np.random.default_rng(seed)

    def call(q: np.ndarray, c: np.ndarray, k: int, metric: str, exclude: Any = None, normalized: bool = False) -> tuple[np.ndarray, np.ndarray]:
        q32, c32 = np.ascontiguousarray(q, dtype=np.float32), np.ascontiguousarray(c, dtype=np.float32)

        def search(rows: np.ndarray, fetch: int, excl: Any = None) -> tuple[Any, Any]:
            given_rows, given_catalog = rows.copy(), c32.copy()
            given_excl = [np.array(e, copy=True) for e in excl] if excl is not None else []
            found = impl.topk(rows, c32, fetch, metric=metric, normalized=normalized, exclude=excl, threads=None)
            unchanged = np.array_equal(rows, given_rows) and np.array_equal(c32, given_catalog) and all(
                np.array_equal(e, g) for e, g in zip(excl if excl is not None else [], given_excl))  # fmt: skip
            # coldkit hands a backend the model's own item vectors: one normalised in place changed every
            # later score of that model, without an error
            _check(unchanged, where, "inputs unchanged", "topk() changed its queries, catalogue or exclusions in place")
            return found

        if exclude is not None and not skips_exclusions:

            def plain(rows: np.ndarray, fetch: int) -> tuple[Any, Any]:
                raw_s, raw_i = (np.asarray(x) for x in search(rows, fetch))
                _check(raw_s.dtype == np.float32, where, "scores dtype", f"must be float32, got {raw_s.dtype}")
                _check(raw_i.dtype == np.int64, where, "indices dtype", f"must be int64, got {raw_i.dtype}")
                return raw_s, raw_i

            scores, indices = topk_by_overfetch(plain, q32, min(k, c32.shape[0]), exclude, c32.shape[0])
        else:
            # k' = min(k, N), as coldkit.topk hands it on (docs/similarity.md): the raw k failed the shipped
            # faiss-flat plugin on "k > N", a case coldkit never asks of a backend
            scores, indices = search(q32, min(k, c32.shape[0]), exclude)
        scores, indices = np.asarray(scores), np.asarray(indices)
        width = min(k, c.shape[0])
        _check(scores.dtype == np.float32, where, "scores dtype", f"must be float32, got {scores.dtype}")
        _check(indices.dtype == np.int64, where, "indices dtype", f"must be int64, got {indices.dtype}")
        _check(scores.shape == indices.shape == (q.shape[0], width), where, "output shape",
               f"expected {(q.shape[0], width)} for k={k}, N={c.shape[0]}; got {scores.shape} and {indices.shape}")
        return scores, indices

    def check_rows(scores: np.ndarray, indices: np.ndarray, truth: np.ndarray, exclude: Any, label: str) -> None:
        for r in range(scores.shape[0]):
            pad = indices[r] < 0
            first_pad = int(np.argmax(pad)) if pad.any() else pad.size
            _check(bool(pad[first_pad:].all()), where, f"{label}: padding", f"row {r}: padding (-1) must come after every real item: {indices[r].tolist()}")
            _check(bool(np.all(np.isneginf(scores[r][pad]))), where, f"{label}: padding", f"row {r}: padded slots must score -inf")
            got = indices[r][~pad]
            _check(bool(np.all(got < truth.shape[1])), where, f"{label}: index range", f"row {r}: index out of range: {got.tolist()}")
            _check(len(set(got.tolist())) == got.size, where, f"{label}: duplicates", f"row {r} repeats items: {got.tolist()}")
            s = scores[r][~pad].astype(np.float64)
            _check(not bool(np.isnan(s).any()), where, f"{label}: NaN", f"row {r}: NaN scores: {s.round(5).tolist()}")  # was reported as an order problem
            _check(bool(np.all(np.diff(s) <= 1e-6 * (1 + np.abs(s[:-1])))), where, f"{label}: order", f"row {r}: scores not best-first: {s.round(5).tolist()}")
            _check(np.allclose(s, truth[r, got], rtol=1e-3, atol=1e-4), where, f"{label}: scores",
                   f"row {r}: returned scores differ from the true metric of the returned items")
            if exclude is not None:
                hit = np.intersect1d(got, exclude[r])
                _check(hit.size == 0, where, f"{label}: exclusions", f"row {r} returned excluded item(s) {hit.tolist()}")

    n, d, b = 60, 16, 7
    catalog = rng.standard_normal((n, d)).astype(np.float32)
    queries = rng.standard_normal((b, d)).astype(np.float32)
    exclude = [rng.choice(n, size=int(s), replace=False).astype(np.int64) for s in rng.integers(0, 12, size=b)]
    exclude[1] = np.empty(0, dtype=np.int64)
    exclude[2] = np.setdiff1d(np.arange(n), [3, 40]).astype(np.int64)  # only two items left: the rest is padding
    for metric in chosen:
        truth = _reference_scores(queries, catalog, metric)
        for k, excl, label in ((5, None, "top-k"), (5, exclude, "exclusions"), (n + 9, None, "k > N"), (1, None, "k = 1")):
            scores, indices = call(queries, catalog, k, metric, excl)
            check_rows(scores, indices, truth, excl, f"{metric} {label}")
            ref_s, ref_i = _reference_topk(truth, k, excl)
            if not approx:
                _check(np.array_equal(np.sort(indices, axis=1), np.sort(ref_i, axis=1)) or np.allclose(scores, ref_s, rtol=1e-3, atol=1e-4),
                       where, f"{metric} {label}: exact", "returned items differ from the exact top-k")
            if excl is not None:
                valid = int((indices[2] >= 0).sum())
                _check(valid <= 2, where, f"{metric} exclusions", f"row 2 has 2 eligible items but {valid} were returned")
                if not approx:
                    _check(sorted(indices[2][:2].tolist()) == [3, 40], where, f"{metric} exclusions", f"row 2 must hold items 3 and 40, got {indices[2].tolist()}")
    if "cosine" in chosen:
        unit_q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        unit_c = catalog / np.linalg.norm(catalog, axis=1, keepdims=True)
        scores, indices = call(unit_q, unit_c, 5, "cosine", normalized=True)
        check_rows(scores, indices, _reference_scores(queries, catalog, "cosine"), None, "normalized=True")

    if not approx and "dot" in chosen:
        # Small integers: every dot product is exact in float32, so ties are real ties.
        tie_c = rng.integers(0, 2, size=(40, 6)).astype(np.float32)
        tie_q = rng.integers(0, 2, size=(5, 6)).astype(np.float32)
        scores, indices = call(tie_q, tie_c, 12, "dot")
        ref_s, ref_i = _reference_topk(_reference_scores(tie_q, tie_c, "dot"), 12, None)
        _check(np.array_equal(indices, ref_i), where, "ties", f"equal scores must be ordered by lower index first: got {indices[0].tolist()}, expected {ref_i[0].tolist()}")
    if approx:
        centres = rng.standard_normal((20, 32)).astype(np.float32) * 3
        big = (centres[rng.integers(0, 20, 2000)] + rng.standard_normal((2000, 32))).astype(np.float32)
        qs = (centres[rng.integers(0, 20, 50)] + rng.standard_normal((50, 32))).astype(np.float32)
        metric = "dot" if "dot" in chosen else chosen[0]
        truth = _reference_scores(qs, big, metric)
        scores, indices = call(qs, big, 10, metric)
        check_rows(scores, indices, truth, None, f"{metric} clustered")
        _, ref_i = _reference_topk(truth, 10, None)
        recall = float(np.mean([np.intersect1d(indices[r], ref_i[r]).size / 10 for r in range(len(qs))]))
        _check(recall >= recall_floor, where, "recall@10", f"{recall:.3f} is below the floor {recall_floor}")
    return impl  # type: ignore[no-any-return]


# ============================================================================ fusion strategies


def _ranked(rows: Sequence[Sequence[tuple[int, float]]], width: int) -> Ranked:
    idx = np.full((len(rows), width), -1, dtype=np.int64)
    sc = np.full((len(rows), width), -np.inf, dtype=np.float32)
    for r, row in enumerate(rows):
        for c, (item, score) in enumerate(row):
            idx[r, c], sc[r, c] = item, score
    return Ranked(idx, sc)


def check_fusion(fusion: str | FusionStrategy, *, options: Mapping[str, Any] | None = None) -> FusionStrategy:
    """Check a fusion strategy's ``fuse`` contract; returns the strategy.

    Properties: a :class:`Ranked` with one row per query and at most ``k`` columns; padding
    (-1 / -inf) only at the end; no duplicates; no item that no source listed; scores best first;
    the same result whatever the order of the sources; one source alone keeps its order; missing
    weights weigh 1.0 (``weights={"a": 1, "b": 1}`` equals ``None``); a dominant weight puts that
    source's best item first; a zero weight leaves the other source's order intact and lists none
    of the items only that source proposes; the first
    ``k`` of a longer list equal the list for ``k``; per-query weight arrays equal fusing each row with its
    own scalar weights (the hybrid hands every fusion ``(B,)`` arrays, one weight per query: checked whether
    or not the strategy declares ``"per-query-weights"``, which a strategy that took only scalars passed,
    then failed inside the hybrid); ``k < 1``, no
    sources and sources of different batch sizes raise :class:`InvalidInputError`; every call leaves the
    sources' arrays and the weights as they were given.
    """
    name = fusion if isinstance(fusion, str) else None
    impl: Any = get_fusion(fusion, **dict(options or {})) if isinstance(fusion, str) else fusion
    where = f"fusion {getattr(impl, 'name', name or type(impl).__name__)!r}"
    _check(isinstance(impl, FusionStrategy), where, "protocol", "missing name or fuse()")

    # Two sources over items 0..11, three queries; row 2 of "b" is empty (all padding).
    a = _ranked([[(0, 9.0), (3, 7.0), (5, 4.0), (7, 1.0)], [(2, 3.0), (4, 2.5), (6, 1.0)], [(1, 5.0), (8, 2.0)]], 5)
    b = _ranked([[(3, 0.9), (1, 0.8), (9, 0.1)], [(6, 0.7), (10, 0.6), (2, 0.2), (11, 0.1)], []], 4)
    sources = {"a": a, "b": b}
    listed = [set(a.indices[r][a.indices[r] >= 0]) | set(b.indices[r][b.indices[r] >= 0]) for r in range(3)]

    def fuse(srcs: Mapping[str, Ranked], k: int, weights: Any = None) -> Ranked:
        given = {n: (r.indices.copy(), r.scores.copy()) for n, r in srcs.items()}
        given_weights = None if weights is None else {n: np.array(w, copy=True) for n, w in weights.items()}
        out = impl.fuse(srcs, k, weights)
        # the hybrid fuses the same source lists hundreds of times while it learns its weights: a fusion
        # that normalised them in place gave every later call other inputs
        _check(all(np.array_equal(r.indices, given[n][0]) and np.array_equal(r.scores, given[n][1]) for n, r in srcs.items())
               and (weights is None or (set(weights) == set(given_weights)  # type: ignore[arg-type]
                                        and all(np.array_equal(np.asarray(w), given_weights[n]) for n, w in weights.items()))),  # type: ignore[index]
               where, "inputs unchanged", "fuse() changed a source's indices or scores, or the weights, in place")
        _check(isinstance(out, Ranked), where, "output type", f"fuse must return coldkit.Ranked, got {type(out).__name__}")
        batch = next(iter(srcs.values())).indices.shape[0]
        _check(out.indices.shape[0] == batch and out.indices.shape[1] <= k, where, "shape",
               f"expected {batch} rows and at most k={k} columns, got {out.indices.shape}")
        for r in range(batch):
            row_i, row_s = out.indices[r], out.scores[r]
            pad = row_i < 0
            first = int(np.argmax(pad)) if pad.any() else pad.size
            _check(bool(pad[first:].all()), where, "padding", f"row {r}: -1 must come after every item: {row_i.tolist()}")
            _check(bool(np.all(np.isneginf(row_s[pad]))), where, "padding", f"row {r}: padded slots must score -inf")
            got = row_i[~pad].tolist()
            _check(len(set(got)) == len(got), where, "duplicates", f"row {r} repeats items: {got}")
            allowed = set().union(*(set(s.indices[r][s.indices[r] >= 0].tolist()) for s in srcs.values()))
            _check(set(got) <= allowed, where, "no invented items", f"row {r} returned {sorted(set(got) - allowed)} that no source listed")
            s = row_s[~pad].astype(np.float64)
            _check(not bool(np.isnan(s).any()), where, "NaN", f"row {r}: NaN scores: {s.round(5).tolist()}")  # was reported as an order problem
            _check(bool(np.all(np.diff(s) <= 1e-6 * (1 + np.abs(s[:-1])))), where, "order", f"row {r}: scores not best-first: {s.round(5).tolist()}")
        return out  # type: ignore[no-any-return]

    def items(r: Ranked, row: int) -> list[int]:
        return [int(i) for i in r.indices[row] if i >= 0]

    base = fuse(sources, 20)
    for r in range(3):
        _check(set(items(base, r)) == {int(i) for i in listed[r]}, where, "coverage",
               f"row {r}: with k large enough every listed item must appear, got {items(base, r)}")
    swapped = fuse({"b": b, "a": a}, 20)
    _check(np.array_equal(base.indices, swapped.indices), where, "source order", "the result depends on the order of the sources")
    _check(np.array_equal(fuse(sources, 20, {"a": 1.0, "b": 1.0}).indices, base.indices), where, "default weight",
           "weights of 1.0 must equal no weights (missing names weigh 1.0)")
    short = fuse(sources, 3)
    for r in range(3):
        _check(items(short, r) == items(base, r)[:3], where, "k prefix", f"row {r}: top 3 {items(short, r)} is not the prefix of the longer list {items(base, r)}")
    alone = fuse({"a": a}, 20)
    for r in range(3):
        _check(items(alone, r) == items(a, r), where, "single source", f"row {r}: one source alone must keep its order {items(a, r)}, got {items(alone, r)}")

    # Disjoint sources: what a weight does is unambiguous.
    p = _ranked([[(0, 3.0), (1, 2.0), (2, 1.0)]], 3)
    q = _ranked([[(5, 30.0), (6, 20.0), (7, 10.0)]], 3)
    _check(items(fuse({"p": p, "q": q}, 6, {"p": 1000.0, "q": 1.0}), 0)[0] == 0, where, "dominant weight", "a much larger weight must put that source's best item first")
    _check(items(fuse({"p": p, "q": q}, 6, {"p": 1.0, "q": 1000.0}), 0)[0] == 5, where, "dominant weight", "a much larger weight must put that source's best item first")
    zero = items(fuse({"p": p, "q": q}, 6, {"p": 1.0, "q": 0.0}), 0)
    _check([i for i in zero if i in (0, 1, 2)] == [0, 1, 2], where, "zero weight", f"a zero-weight source must not reorder the other one: {zero}")
    _check(set(zero) <= {0, 1, 2}, where, "zero weight", f"items only a zero-weight source lists must not be listed: {zero}")

    # every strategy, declared or not: the hybrid's blend passes (B,) weight arrays (see the docstring)
    wa, wb = np.array([1.0, 0.2, 3.0]), np.array([0.5, 2.0, 1.0])
    try:
        batched = fuse(sources, 6, {"a": wa, "b": wb})
    except AssertionError:
        raise  # another property failed inside (the arrays changed in place, say): it names itself
    except Exception as exc:  # noqa: BLE001 - any error here is the property's failure, named
        _check(False, where, "per-query weights",
               f"fuse() with one weight per query ((B,) arrays, as the hybrid passes them) raised {type(exc).__name__}: {exc}")
        raise  # not reached: _check raised
    for r in range(3):
        one = fuse({"a": Ranked(a.indices[r : r + 1], a.scores[r : r + 1]), "b": Ranked(b.indices[r : r + 1], b.scores[r : r + 1])},
                   6, {"a": float(wa[r]), "b": float(wb[r])})
        _check(items(batched, r) == items(one, 0), where, "per-query weights", f"row {r}: per-query weights differ from fusing the row alone")

    if callable(getattr(impl, "contributions", None)):
        _check_contributions(impl, where, sources, {"a": wa, "b": wb}, batched)

    for bad_k in (0, -1, 2.5):
        _raises(partial(impl.fuse, sources, bad_k), (InvalidInputError,), where, f"bad k ({bad_k!r})")
    _raises(lambda: impl.fuse({}, 3), (InvalidInputError,), where, "no sources")
    short_batch = Ranked(a.indices[:2], a.scores[:2])
    _raises(lambda: impl.fuse({"a": short_batch, "b": b}, 3), (InvalidInputError,), where, "batch sizes differ")
    return impl  # type: ignore[no-any-return]


def _check_contributions(impl: Any, where: str, sources: Mapping[str, Ranked], weights: Mapping[str, np.ndarray], fused: Ranked) -> None:
    """A strategy's optional ``contributions(sources, weights, items)`` (what the "why" of an item reads): per
    source, a finite ``(B, m)`` array for the ``(B, m)`` items asked; every source named; 0 where the source
    does not list the item; and the parts of a row's listed items, summed, in the list's order (the fused
    score is their sum plus what every item of the row gets alike). The kit called only ``fuse``: a strategy
    whose ``contributions`` had the wrong shape passed it, then failed every served ``/recommend``."""
    items = np.where(fused.indices >= 0, fused.indices, 0)
    given = {n: (r.indices.copy(), r.scores.copy()) for n, r in sources.items()}
    said = impl.contributions(sources, weights, items)
    _check(all(np.array_equal(r.indices, given[n][0]) and np.array_equal(r.scores, given[n][1]) for n, r in sources.items()),
           where, "inputs unchanged", "contributions() changed a source's indices or scores in place")
    _check(isinstance(said, Mapping), where, "contributions", f"must return a dict source -> (B, m) array, got {type(said).__name__}")
    _check(set(said) == set(sources), where, "contributions",
           f"must name every source {sorted(sources)}, got {sorted(map(str, said))} (a source left out reads as adding nothing)")
    total = np.zeros(items.shape)
    for name, part in said.items():
        arr = np.asarray(part, dtype=np.float64)
        _check(arr.shape == items.shape and bool(np.isfinite(arr).all()), where, "contributions",
               f"source {name!r}: expected a finite {items.shape} array, got {arr.shape}")
        for r in range(items.shape[0]):
            listed = set(np.asarray(sources[name].indices[r])[np.asarray(sources[name].indices[r]) >= 0].tolist())
            absent = [j for j, i in enumerate(items[r]) if fused.indices[r, j] >= 0 and int(i) not in listed]
            _check(bool(np.all(arr[r, absent] == 0)), where, "contributions",
                   f"source {name!r}, row {r}: items it does not list must get 0, got {arr[r, absent].round(5).tolist()}")
        total += arr
    for r in range(items.shape[0]):
        shown = total[r][fused.indices[r] >= 0]
        _check(bool(np.all(np.diff(shown) <= 1e-6 * (1 + np.abs(shown[:-1])))), where, "contributions",
               f"row {r}: the parts of the listed items, summed, must follow the list's order: {shown.round(5).tolist()}")


# ============================================================================ rerankers


def _says(relaxed: Sequence[str], constraint: str) -> bool:
    """Whether a row's ``relaxed`` notes name ``constraint``."""
    return any(constraint in note for note in relaxed)


def check_reranker(reranker: Any, *, options: Mapping[str, Any] | None = None) -> Any:
    """Check a reranker's ``rerank`` contract (:class:`coldkit.Reranker`); returns the reranker.

    Properties, on scored candidate lists of three queries (one with padding): a :class:`coldkit.Reranked`
    whose ``ranked`` has one row per query and at most ``k`` columns, ``relaxed`` one list of strings per
    row; only candidates of the row, each once, padding (-1 / -inf) last, finite scores; ``k`` beyond the
    candidates lists every candidate; the inputs are left as they were given. For each constraint
    the reranker declares in its capabilities (``exclude``, ``max_per_category``, ``min_new_share``), for
    one :class:`coldkit.Constraints` shared by every row and for one per row: where it can be met, a
    reranker that declares ``optimal`` meets it with nothing said relaxed, and another (a greedy one) meets
    it or names it in ``relaxed``; where it cannot be met, every new candidate is listed and ``relaxed``
    says so. ``exclude`` is never relaxed, and a list is as long as the candidates left allow. ``k < 1`` raises
    :class:`InvalidInputError`. The serving index hands a server's reranker (``coldkit serve
    --reranker``) the same arguments.

    Args:
        reranker: a registered name (built with ``options``) or an instance.
    """
    from coldkit.rerank import Constraints, ItemAttributes, Reranked

    name = reranker if isinstance(reranker, str) else None
    impl: Any = get_reranker(reranker, **dict(options or {})) if isinstance(reranker, str) else reranker
    where = f"reranker {getattr(impl, 'name', name or type(impl).__name__)!r}"
    _check(isinstance(getattr(impl, "name", None), str) and callable(getattr(impl, "rerank", None)), where, "protocol",
           "a reranker has a name (str) and rerank(ranked, k, constraints=None, items=None)")
    caps = _capabilities("reranker", name) | frozenset(getattr(impl, "capabilities", ()) or ())
    # an "optimal" reranker (the exact MILP) meets every constraint that can be met; a greedy one (mmr) may miss
    # one that can be met, but must then say so, naming it: a list that breaks a limit without a word is refused
    optimal = "optimal" in caps

    # Three queries over items 0..11: 8 candidates each (the last row 5, then padding), best first.
    rng = np.random.default_rng(0)
    rows = [[(i, 10.0 - c) for c, i in enumerate(order)] for order in ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 0, 2, 4, 6], [1, 3, 5, 7, 9])]
    ranked = _ranked(rows, 8)
    categories = [{"drama"} if i % 3 == 0 else ({"comedy"} if i % 3 == 1 else {"drama", "comedy"}) for i in range(12)]
    is_new = np.array([i % 4 == 3 for i in range(12)])
    vectors = rng.standard_normal((12, 4)).astype(np.float32)
    items = ItemAttributes(categories=categories, is_new=is_new, vectors=vectors)

    def rerank(k: int, constraints: Any = None, excluded: Sequence[int] = ()) -> Any:
        given = (ranked.indices.copy(), ranked.scores.copy(), vectors.copy())
        out = impl.rerank(ranked, k, constraints=constraints, items=items)
        _check(np.array_equal(ranked.indices, given[0]) and np.array_equal(ranked.scores, given[1])
               and np.array_equal(vectors, given[2]), where, "inputs unchanged",
               "rerank() changed the candidates' indices, scores or the item vectors in place")
        _check(isinstance(out, Reranked), where, "output type", f"rerank must return coldkit.Reranked, got {type(out).__name__}")
        idx, sc = np.asarray(out.ranked.indices), np.asarray(out.ranked.scores)
        _check(idx.ndim == 2 and idx.shape[0] == 3 and idx.shape[1] <= k and idx.shape == sc.shape, where, "shape",
               f"expected 3 rows of at most k={k} items (indices and scores alike), got {idx.shape} and {sc.shape}")
        _check(isinstance(out.relaxed, list) and len(out.relaxed) == 3 and all(
            isinstance(r, list) and all(isinstance(n, str) for n in r) for r in out.relaxed), where, "relaxed",
               f"must be one list of strings per row, got {out.relaxed!r:.120}")
        for r in range(3):
            pad = idx[r] < 0
            first = int(np.argmax(pad)) if pad.any() else pad.size
            _check(bool(pad[first:].all()) and bool(np.all(np.isneginf(sc[r][pad]))), where, "padding",
                   f"row {r}: -1 / -inf only after every item: {idx[r].tolist()}")
            got = idx[r][~pad].tolist()
            listed = {i for i, _ in rows[r]}
            _check(set(got) <= listed, where, "candidates only", f"row {r} returned {sorted(set(got) - listed)}, not among its candidates")
            _check(len(set(got)) == len(got), where, "duplicates", f"row {r} repeats items: {got}")
            _check(bool(np.isfinite(sc[r][~pad]).all()), where, "scores", f"row {r}: non-finite scores for listed items")
            left = len(listed - set(excluded))
            _check(len(got) == min(k, left), where, "length", f"row {r}: {len(got)} items for k={k} from {left} candidates")
        return out, idx

    rerank(4)
    _, wide = rerank(20)
    _check(all(int((wide[r] >= 0).sum()) == len(rows[r]) for r in range(3)), where, "k beyond the candidates",
           f"k=20 must list every candidate of each row, got {(wide >= 0).sum(axis=1).tolist()}")
    shared_and_per_row = lambda c: (c, [c, c, c])  # noqa: E731 - one Constraints for all rows, and one per row
    if "exclude" in caps:
        for constraints in shared_and_per_row(Constraints(exclude=(0, 1, 8))):
            out, got = rerank(4, constraints, excluded=(0, 1, 8))
            _check(not np.isin(got, [0, 1, 8]).any(), where, "exclude", f"excluded items 0, 1, 8 listed: {got.tolist()}")
    if "max_per_category" in caps:
        for constraints in shared_and_per_row(Constraints(max_per_category=2)):
            out, got = rerank(4, constraints)
            for r in range(3):  # every row can hold 4 items with at most 2 per category
                shown = [int(i) for i in got[r] if i >= 0]
                counts = {c: sum(c in categories[i] for i in shown) for c in ("drama", "comedy")}
                met = max(counts.values()) <= 2
                _check(met and not out.relaxed[r] if optimal else met or _says(out.relaxed[r], "max_per_category"), where,
                       "max_per_category", f"row {r}: limit 2 per category (it can be met{', and the reranker declares optimal' if optimal else ''}), "
                       f"listed {shown} ({counts}), relaxed {out.relaxed[r]}")
    if "min_new_share" in caps:
        for constraints in shared_and_per_row(Constraints(min_new_share=0.5)):
            out, got = rerank(4, constraints)
            for r in range(3):
                new = sum(bool(is_new[i]) for i in got[r] if i >= 0)
                available = sum(bool(is_new[i]) for i, _ in rows[r])
                if available >= 2:  # it can be met
                    _check(new >= 2 and not out.relaxed[r] if optimal else new >= 2 or _says(out.relaxed[r], "min_new_share"),
                           where, "min_new_share", f"row {r}: half of 4 must be new ({available} new candidates), listed {new}, "
                           f"relaxed {out.relaxed[r]}")
                else:  # it cannot: every new candidate listed, and said
                    _check(new == available and bool(out.relaxed[r]), where, "min_new_share",
                           f"row {r}: 2 new items asked, {available} among the candidates: list them all and say so in relaxed "
                           f"(listed {new}, relaxed {out.relaxed[r]})")
    for bad_k in (0, -1):
        _raises(partial(impl.rerank, ranked, bad_k, constraints=None, items=items), (InvalidInputError,), where, f"bad k ({bad_k!r})")
    return impl


# ============================================================================ models

#: The synthetic catalogue's topics: every item is about one of them, every user likes one or two.
TOPICS: dict[str, tuple[str, ...]] = {
    "sports": ("basketball final game", "football match highlights", "tennis open championship", "marathon running race",
               "baseball world series", "cycling mountain stage", "swimming relay record", "boxing title fight"),
    "music": ("violin concerto orchestra", "jazz piano trio live", "rock guitar festival", "opera soprano aria",
              "hip hop beats album", "symphony orchestra premiere", "folk songs acoustic", "electronic dance music set"),
    "cooking": ("tomato basil soup recipe", "sourdough bread baking", "spicy curry dinner", "chocolate cake dessert",
                "grilled fish lemon", "vegetable stir fry", "pasta carbonara classic", "pancakes breakfast syrup"),
}
_GENRES = {"sports": "Sports|Action", "music": "Music|Drama", "cooking": "Food|Documentary"}
#: A profile text about each topic, for the text-relevance check. Every topic is checked: a model that
#: ignores the text and lists items in index order would pass a check of the first topic alone.
TOPIC_TEXTS: dict[str, str] = {
    "sports": "basketball football tennis game match",
    "music": "violin jazz piano guitar orchestra",
    "cooking": "tomato soup bread curry cake recipe",
}


def synthetic_interactions(seed: int = 0, n_users: int = 24, cold_per_topic: int = 2) -> tuple[Any, dict[str, str], dict[str, np.ndarray]]:
    """A tiny catalogue with three topics, users who each like one topic, and cold items.

    Returns ``(interactions, user_profiles, topic_items)``: ``topic_items[topic]`` holds the item
    indices of that topic; the last ``cold_per_topic`` items of each topic have no interaction.
    """
    import pandas as pd
    import scipy.sparse as sp

    from coldkit.data.interactions import Catalog, Interactions

    rng = np.random.default_rng(seed)
    titles: list[str] = []
    genres: list[str] = []
    topic_items: dict[str, np.ndarray] = {}
    for topic, names in TOPICS.items():
        topic_items[topic] = np.arange(len(titles), len(titles) + len(names), dtype=np.int64)
        titles += list(names)
        genres += [_GENRES[topic]] * len(names)
    ids = [f"i{i}" for i in range(len(titles))]
    catalog = Catalog(np.array(ids, dtype=object), pd.DataFrame({"item_id": ids, "title": titles, "genres": genres}), ("title", "genres"))
    rows, cols, profiles = [], [], {}
    topics = list(TOPICS)
    for u in range(n_users):
        topic = topics[u % len(topics)]
        warm = topic_items[topic][: len(TOPICS[topic]) - cold_per_topic]
        chosen = rng.choice(warm, size=int(rng.integers(2, len(warm) + 1)), replace=False)
        rows += [u] * len(chosen)
        cols += chosen.tolist()
        profiles[f"u{u}"] = f"I love {TOPICS[topic][0]} and {TOPICS[topic][1]}"
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, len(ids)))
    seconds = 1_700_000_000 + rng.integers(0, 90 * 86_400, size=len(rows))  # a quarter of a year
    timestamps = sp.csr_matrix((seconds.astype(np.int64), (rows, cols)), shape=(n_users, len(ids)))
    users = np.array([f"u{u}" for u in range(n_users)], dtype=object)
    return Interactions(users, catalog, matrix, timestamps), profiles, topic_items


def _same_sparse(a: Any, b: Any) -> bool:
    """The two sparse matrices hold the same entries (their layout may differ)."""
    return bool(a.shape == b.shape and (a != b).nnz == 0)


def _same_ranking(x: Ranked, rx: int, y: Ranked, ry: int, tol: float = 1e-4) -> bool:
    """Equal lists up to float noise: equal scores, and items may swap only within a tie of scores."""
    sx, sy = x.scores[rx].astype(np.float64), y.scores[ry].astype(np.float64)
    if not np.array_equal(np.isfinite(sx), np.isfinite(sy)) or not np.allclose(sx, sy, rtol=tol, atol=tol, equal_nan=False):
        return bool(np.array_equal(sx, sy))  # both all -inf padding compares equal here
    # Scores match position by position, so a differing item at p scored the same as the other
    # list's item at p: a tie broken differently by float noise. Ties inside the list must still
    # hold the same items.
    differ = x.indices[rx] != y.indices[ry]
    inside = set(x.indices[rx][differ].tolist()) ^ set(y.indices[ry][differ].tolist())
    last = float(sx[np.isfinite(sx)][-1]) if np.isfinite(sx).any() else 0.0
    return all(abs(float(sx[p]) - last) <= tol * (1 + abs(last)) for p in np.nonzero(differ)[0]) or not inside


def check_model(
    model: str | Any,
    *,
    options: Mapping[str, Any] | None = None,
    capabilities: Sequence[str] | None = None,
    relevance: bool | None = None,
    seed: int = 0,
) -> Any:
    """Fit on a tiny synthetic data set and check the recommender contract; returns the fitted model.

    Properties: ``recommend`` before ``fit`` raises a coldkit error; ``fit`` returns the model;
    ``recommend`` gives int64 indices / float32 scores of shape ``(B, min(k, n_items))``, padded with -1/-inf at
    the end, no duplicates, scores best first; ``exclude_known`` drops the user's training items
    and ``history``; only ``candidates`` are returned (fewer candidates than ``k``: padding; an
    empty set: all padding); ``k`` larger than the catalogue is capped at it; results are deterministic and
    independent of the batch; ``k < 1``, a user index out of range, candidates out of range, a
    bare ``UserQuery`` and ``fit`` on a non-Interactions raise :class:`InvalidInputError`; ``fit``
    leaves the interactions and the item table as given, ``recommend`` the queries' histories and the
    candidates. With capability ``"cold-users"``: a new user's clicks (``history``) get a full list; with
    ``"text"``: a profile text gets a full list; with ``"cold-items"``: items without
    interactions are returned when they are the only candidates. With ``relevance`` (default: when
    the model has ``"text"``), for every topic of the catalogue (sports, music, cooking), a fan's top
    cold item is of their topic, and at least 3 of the top 5 items for a text about it are (so a list
    in index order, which favours the first topic, fails).

    Args:
        model: a registered name (built with ``options``; text models get ``encoder="hashing"``
            unless ``options`` names one) or an unfitted instance.
        capabilities: the model's capabilities (default: its registry entry's).
    """
    from coldkit.data.interactions import UserQuery
    from coldkit.models.base import Recommender
    from coldkit.models.registry import build_model, model_accepts

    train, profiles, topic_items = synthetic_interactions(seed)
    opts = dict(options or {})
    name = model if isinstance(model, str) else None
    if name is not None:
        if "encoder" not in opts and model_accepts(name, "encoder"):
            opts["encoder"] = "hashing"
        if "user_profiles" not in opts and model_accepts(name, "user_profiles"):
            opts["user_profiles"] = profiles
        impl: Any = build_model(name, **opts)
    else:
        impl = model
    where = f"model {name or getattr(impl, 'name', type(impl).__name__)!r}"
    caps = frozenset(capabilities) if capabilities is not None else _capabilities("model", name)
    check_relevance = ("text" in caps) if relevance is None else relevance
    _check(isinstance(impl, Recommender), where, "type", f"must be a coldkit.models.Recommender, got {type(impl).__name__}")
    n_items = train.n_items
    cold = np.concatenate([t[-2:] for t in topic_items.values()])

    _raises(lambda: impl.recommend([UserQuery(user=0)], 3), (ColdkitError,), where, "recommend before fit")
    _raises(lambda: impl.fit("not interactions"), (InvalidInputError,), where, "fit on bad input")
    given = (train.matrix.copy(), None if train.timestamps is None else train.timestamps.copy(), train.catalog.table.copy())
    fitted = impl.fit(train)
    _check(fitted is impl, where, "fit returns self", f"fit() must return the model itself, got {type(fitted).__name__}")
    # the caller's data: the hybrid fits its sources on one carved matrix after another, and a user
    # evaluates several models on one split
    _check(_same_sparse(train.matrix, given[0]) and (given[1] is None or _same_sparse(train.timestamps, given[1]))
           and train.catalog.table.equals(given[2]), where, "inputs unchanged", "fit() changed the interactions or the item table it was given")

    def rec(queries: Sequence[Any], k: int, **kwargs: Any) -> Ranked:
        histories = [np.array(q.history, copy=True) for q in queries]
        candidates: Any = kwargs.get("candidates")
        given_candidates = None if candidates is None else np.array(candidates, copy=True)
        try:
            out = impl.recommend(queries, k, **kwargs)
        except ComponentContractError as exc:
            # Recommender.recommend checks what _recommend returns: report it as the broken property
            raise _fail(where, "output contract", str(exc)) from None
        _check(all(np.array_equal(q.history, h) for q, h in zip(queries, histories))
               and (given_candidates is None or np.array_equal(candidates, given_candidates)),
               where, "inputs unchanged", "recommend() changed a query's history or the candidates in place")
        _check(isinstance(out, Ranked), where, "output type", f"recommend must return coldkit.Ranked, got {type(out).__name__}")
        _check(out.indices.dtype == np.int64 and out.scores.dtype == np.float32, where, "dtypes",
               f"indices int64 and scores float32 expected, got {out.indices.dtype} and {out.scores.dtype}")
        width = min(k, n_items)  # k is capped at the catalogue: a huge k allocates nothing
        _check(out.indices.shape == (len(queries), width), where, "shape (padding contract)",
               f"expected exactly {(len(queries), width)} for k={k}, got {out.indices.shape}")
        for r in range(len(queries)):
            row_i, row_s = out.indices[r], out.scores[r]
            pad = row_i < 0
            first = int(np.argmax(pad)) if pad.any() else pad.size
            _check(bool(pad[first:].all()), where, "padding", f"row {r}: -1 must come after every item: {row_i.tolist()}")
            _check(bool(np.all(np.isneginf(row_s[pad]))), where, "padding", f"row {r}: padded slots must score -inf")
            got = row_i[~pad]
            _check(bool(np.all(got < n_items)), where, "index range", f"row {r}: item index out of range: {got.tolist()}")
            _check(len(set(got.tolist())) == got.size, where, "duplicates", f"row {r} repeats items: {got.tolist()}")
            s = row_s[~pad].astype(np.float64)
            _check(bool(np.all(np.isfinite(s))), where, "finite scores", f"row {r}: real items must have finite scores: {s.tolist()}")
            _check(bool(np.all(np.diff(s) <= 1e-6 * (1 + np.abs(s[:-1])))), where, "order", f"row {r}: scores not best-first: {s.round(5).tolist()}")
        return out

    def valid(r: Ranked, row: int) -> list[int]:
        return [int(i) for i in r.indices[row] if i >= 0]

    warm = [UserQuery(user=u) for u in range(6)]
    first = rec(warm, 5)
    for u in range(6):
        known = set(train.items_of(u).tolist())
        _check(not known & set(valid(first, u)), where, "exclude_known", f"user {u} got items they already interacted with: {sorted(known & set(valid(first, u)))}")
    rec(warm, 5, exclude_known=False)
    with_history = [UserQuery(user=0, history=np.array([int(topic_items["music"][0]), int(topic_items["music"][1])]))]
    hist = rec(with_history, n_items)
    _check(not {int(i) for i in topic_items["music"][:2]} & set(valid(hist, 0)), where, "exclude_known", "an item in query.history was returned")
    _check(np.array_equal(rec(warm, 5).indices, first.indices), where, "determinism", "the same queries twice gave different lists")
    for u in (0, 4):
        alone = rec([warm[u]], 5)
        _check(_same_ranking(alone, 0, first, u), where, "batch independence",
               f"user {u} alone got {valid(alone, 0)}, inside a batch {valid(first, u)} (beyond score ties)")

    candidates = np.array(sorted(topic_items["cooking"][:3].tolist() + topic_items["music"][:2].tolist()), dtype=np.int64)
    cand = rec(warm, 4, candidates=candidates, exclude_known=False)
    for u in range(6):
        _check(set(valid(cand, u)) <= set(candidates.tolist()), where, "candidates", f"user {u} got non-candidates {sorted(set(valid(cand, u)) - set(candidates.tolist()))}")
    few = rec(warm[:2], 8, candidates=candidates[:2], exclude_known=False)
    _check(all(len(valid(few, r)) <= 2 for r in range(2)), where, "candidates", "more items than candidates were returned")
    none = rec(warm[:2], 3, candidates=np.empty(0, dtype=np.int64))
    _check(bool(np.all(none.indices == -1)), where, "empty candidates", "an empty candidate set must give only padding")
    rec(warm[:2], n_items + 5)

    for bad_k in (0, -2):
        _raises(partial(impl.recommend, warm[:1], bad_k), (InvalidInputError,), where, f"bad k ({bad_k})")
    _raises(lambda: impl.recommend([UserQuery(user=train.n_users + 3)], 3), (InvalidInputError,), where, "user out of range")
    _raises(lambda: impl.recommend(warm[:1], 3, candidates=np.array([0, n_items + 1])), (InvalidInputError,), where, "candidates out of range")
    _raises(lambda: impl.recommend(UserQuery(user=0), 3), (InvalidInputError,), where, "a bare UserQuery")

    if "cold-users" in caps:
        clicks = [UserQuery(history=topic_items["sports"][:2])]
        out = rec(clicks, 5)
        _check(len(valid(out, 0)) == 5, where, "cold user (clicks)", f"a new user with clicks must get a full list, got {valid(out, 0)}")
    if "text" in caps:
        out = rec([UserQuery(text=text) for text in TOPIC_TEXTS.values()], 5)
        for row, topic in enumerate(TOPIC_TEXTS):
            _check(len(valid(out, row)) == 5, where, "cold user (text)", f"a profile text must get a full list, got {valid(out, row)}")
            if check_relevance:
                hits = len(set(valid(out, row)) & set(topic_items[topic].tolist()))
                _check(hits >= 3, where, "text relevance",
                       f"only {hits} of the top 5 for a {topic} text ({TOPIC_TEXTS[topic]!r}) are {topic} items: {valid(out, row)}")
    if "cold-items" in caps:
        fans = list(range(len(TOPICS)))  # user u likes topic u % 3: users 0, 1, 2 like sports, music, cooking
        out = rec([UserQuery(user=u) for u in fans], 3, candidates=np.sort(cold))
        for row, topic in enumerate(TOPICS):
            got = valid(out, row)
            _check(len(got) == 3, where, "cold items", f"items without interactions must be rankable, got {got}")
            if check_relevance:
                _check(got[0] in topic_items[topic], where, "cold-item relevance",
                       f"a {topic} fan's top cold item must be a {topic} item, got {got[0]} ({train.catalog.table['title'].iloc[got[0]]!r})")
    return impl
