"""GPT-2 small's real architecture (124M parameters, 12 layers x 768, 1024 positions, the real
50,257-token BPE) through the plugin's user path: random-initialised, written by ``save_pretrained``
(about 500 MB of safetensors) and loaded back with ``coldkit.get_encoder("gpt2", model=PATH)``.

The load and the encoding run in a fresh interpreter so its peak RSS is the plugin's own (not this
test process's, which built the model). Load time, peak RSS and texts/s are printed and attached
to the test report (``record_property``); nothing is asserted about them (speed targets live in
the benchmarks). The vectors are checked: dimension 768, finite, unit rows, identical on a second
pass, and equal to a direct transformers forward pass of each text alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("coldkit_gpt2", reason="the gpt2 plugin is not installed (pip install ./plugins/coldkit-gpt2)")

TEXTS = [
    "Toy Story (1995). Adventure|Animation|Children|Comedy|Fantasy",
    "a basketball game between two city teams",
    "Heat (1995). Action|Crime|Thriller",
    "a violin concerto played by the symphony orchestra",
    "x",
    "Ünïcödé — naïve café, 表記",
] * 4  # 24 texts

# Runs in a fresh interpreter: what a user's process pays to load and use the model.
_MEASURE = r"""
import json, os, sys, time
import numpy as np

def rss_mb(field):
    # /proc's VmHWM (peak) / VmRSS belong to this process's own memory map; getrusage's ru_maxrss
    # would report the parent's peak (Linux keeps it across fork + exec)
    try:
        with open("/proc/self/status") as status:
            return round(int(next(line.split()[1] for line in status if line.startswith(field + ":"))) / 1024)
    except (OSError, StopIteration):  # not Linux: no memory figure rather than a wrong one
        return None
started = time.perf_counter()
import torch, transformers, coldkit, coldkit_gpt2.encoder
imported, imported_cpu = time.perf_counter(), time.process_time()
rss_imported = rss_mb("VmRSS")
encoder = coldkit.get_encoder("gpt2", model=sys.argv[1], device="cpu", threads=1)
loaded, loaded_cpu = time.perf_counter(), time.process_time()
rss_loaded = rss_mb("VmRSS")
encoder.fingerprint  # hashes the weight files once: what the first encode_catalog pays
fingerprinted, fingerprinted_cpu = time.perf_counter(), time.process_time()
texts = json.loads(sys.argv[2])
first = encoder.encode_texts(texts)
encoded, encoded_cpu = time.perf_counter(), time.process_time()
second = encoder.encode_texts(texts)
np.save(sys.argv[3], np.stack([first, second]))
print(json.dumps({
    "import_s": round(imported - started, 2), "load_s": round(loaded - imported, 2), "load_cpu_s": round(loaded_cpu - imported_cpu, 2),
    "fingerprint_s": round(fingerprinted - loaded, 2), "texts_per_s": round(len(texts) / (encoded - fingerprinted), 1), "texts_per_cpu_s": round(len(texts) / (encoded_cpu - fingerprinted_cpu), 1),
    "rss_imports_mb": rss_imported, "rss_after_load_mb": rss_loaded,
    "peak_rss_mb": rss_mb("VmHWM"), "load_average_1min": round(os.getloadavg()[0], 1),
    "threads": 1, "dim": encoder.dim, "max_length": encoder.max_length,
}))
"""


@pytest.mark.slow
def test_full_size_gpt2_saved_and_loaded_back(full_size_gpt2_dir: Path, tmp_path: Path, record_property: Callable[[str, Any], None]) -> None:
    weights = sum(f.stat().st_size for f in full_size_gpt2_dir.glob("*.safetensors"))
    assert weights > 450e6  # 124M float32 parameters: the real size, not a tiny stand-in
    out = tmp_path / "vectors.npy"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(full_size_gpt2_dir), json.dumps(TEXTS), str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    metrics["weights_mb"] = round(weights / 1e6)
    print(f"\nfull-size gpt2 (124M, fp32, CPU): {metrics}")
    for key, value in metrics.items():
        record_property(key, value)

    first, second = np.load(out)
    assert (metrics["dim"], metrics["max_length"]) == (768, 1024)
    assert first.shape == (len(TEXTS), 768) and first.dtype == np.float32
    assert np.isfinite(first).all()
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, second)  # deterministic
    np.testing.assert_allclose(first[:6], first[6:12], atol=1e-5)  # the same text, another batch position

    # the full-size path equals transformers run directly, one text at a time, unpadded (last token)
    import torch
    from transformers import GPT2Model, GPT2Tokenizer

    tokenizer = GPT2Tokenizer.from_pretrained(str(full_size_gpt2_dir))
    model = GPT2Model.from_pretrained(str(full_size_gpt2_dir)).eval()
    with torch.no_grad():
        rows = [model(**tokenizer(t, return_tensors="pt")).last_hidden_state[0, -1].numpy() for t in TEXTS[:3]]
    expected = np.stack(rows) / np.linalg.norm(np.stack(rows), axis=1, keepdims=True)
    np.testing.assert_allclose(first[:3], expected, atol=1e-4)
