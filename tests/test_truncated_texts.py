"""Item texts longer than the text encoder reads: counted, and named in a note of ``coldkit recommend``.

A shop's catalogue (a title, a 200–500-word description, then a category) had 98 % of its item texts cut at
MiniLM's 256 tokens, so the category never reached the encoder, and the run said nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import coldkit
from coldkit.batch import _truncated_texts_note, recommend_files
from coldkit.data import load_items

pytest.importorskip("torch")

needs_bert = pytest.mark.skipif(
    "bert" not in coldkit.plugins.manager.registry("encoder").names(), reason="the coldkit-bert plugin is not installed"
)


@pytest.fixture(scope="module")
def bert() -> object:
    return coldkit.get_encoder("bert")


@needs_bert
def test_token_counts_are_the_untruncated_lengths(bert: object) -> None:
    # reference: "cat" is one WordPiece token of MiniLM's vocabulary, so n words are n + [CLS] + [SEP]
    texts = ["cat " * n for n in (1, 10, 254, 255, 600)] + [""]
    counts = bert.token_counts(texts)  # type: ignore[attr-defined]
    assert counts.tolist() == [3, 12, 256, 257, 602, 2]
    assert bert.max_length == 256  # type: ignore[attr-defined]


class _Holder:
    """A fitted model as the note's walk finds it: an attribute that is an encoder."""

    def __init__(self, encoder: object) -> None:
        self.encoder = encoder

    def recommend(self) -> None:  # a model to the walk
        raise NotImplementedError


@needs_bert
def test_the_note_counts_the_cut_texts_and_the_lost_column(tmp_path: Path, bert: object) -> None:
    rng = np.random.default_rng(0)
    n = 40
    long_ = rng.random(n) < 0.6  # these descriptions alone fill the limit
    desc = ["dog " * (400 if lg else 20) for lg in long_]
    items = pd.DataFrame({"item_id": [f"SKU-{i:03d}" for i in range(n)], "title": [f"title {i}" for i in range(n)],
                          "description": desc, "category": ["Drama, Comedy"] * n})
    items.to_csv(tmp_path / "items.csv", index=False)
    catalog = load_items(tmp_path / "items.csv")
    assert catalog.text_columns == ("title", "description", "category")
    # reference: "title i. dog dog ... dog. Drama, Comedy" counted by hand: title 2 tokens + "." + words + "." + 3
    expected_cut = int(long_.sum())
    note = _truncated_texts_note(_Holder(bert), catalog)
    assert note is not None
    assert note.startswith(f"{expected_cut} of {n} item texts ({expected_cut / n:.0%}) are longer than the 256 tokens bert reads")
    assert f"for {expected_cut} of them nothing of category (the last of title, description, category) is read" in note
    assert note.endswith("; to have it read, put the short columns first: --text-columns title category description")
    # short texts: no note
    items.assign(description="dog " * 20).to_csv(tmp_path / "short.csv", index=False)
    assert _truncated_texts_note(_Holder(bert), load_items(tmp_path / "short.csv")) is None
    # no encoder that counts tokens (hashing): no note
    assert _truncated_texts_note(_Holder(coldkit.get_encoder("hashing")), catalog) is None


@needs_bert
def test_recommend_files_says_so(tmp_path: Path) -> None:
    n = 12
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n)], "title": [f"t{i}" for i in range(n)],
                          "description": ["word " * (300 if i % 2 else 5) for i in range(n)]})
    items.to_csv(tmp_path / "items.csv", index=False)
    rows = [(f"u{u}", f"i{(u + j) % n}") for u in range(6) for j in range(3)]
    pd.DataFrame(rows, columns=["user_id", "item_id"]).to_csv(tmp_path / "train.csv", index=False)
    summary = recommend_files(tmp_path / "train.csv", tmp_path / "items.csv", tmp_path / "r.csv",
                              model="content", encoder="bert", k=3, progress=False)
    cut = [note for note in summary["notes"] if "longer than the 256 tokens bert reads" in note]
    assert len(cut) == 1 and cut[0].startswith(f"{n // 2} of {n} item texts (50%)")
