"""Every template in the example plugin passes coldkit's conformance kit, found by name through the entry point."""

from __future__ import annotations

import numpy as np
import pytest

import coldkit
from coldkit.testing import check_encoder, check_fusion, check_model
from coldkit_example import CharNgramEncoder


def test_char_ngram_encoder_passes_the_kit() -> None:
    check_encoder("char-ngram")
    check_encoder("char-ngram", options={"dim": 64, "n": 4})


def test_combmnz_passes_the_kit() -> None:
    check_fusion("combmnz")


@pytest.mark.parametrize("encoder", ["char-ngram", "hashing"])
def test_text_match_model_passes_the_kit(encoder: str) -> None:
    check_model("text-match", options={"encoder": encoder})


def test_char_ngram_hand_computed() -> None:
    # "ab" padded to " ab " has the trigrams " ab" and "ab ": two buckets of 1 + log(1) = 1 each
    # (or one bucket of 1 + log 2 if they collide), then L2-normalised.
    encoder = CharNgramEncoder(dim=1 << 16, n=3)
    vector = encoder.encode_texts(["ab"])[0]
    nonzero = np.sort(vector[vector > 0])
    np.testing.assert_allclose(nonzero, [1 / np.sqrt(2), 1 / np.sqrt(2)], rtol=1e-6)
    assert np.array_equal(encoder.encode_texts(["AB  "]), encoder.encode_texts(["ab"]))  # case and spaces fold


def test_char_ngram_reads_both_unicode_forms_alike() -> None:
    # read as coldkit reads text (coldkit.text.normalize): before, cosine 0.46 and 0.55
    import unicodedata

    encoder = CharNgramEncoder(dim=1 << 16, n=3)
    v = encoder.encode_texts(["Amélie", unicodedata.normalize("NFD", "Amélie"), "SİNAN", "sinan"])
    assert v[0].tobytes() == v[1].tobytes()
    assert v[2].tobytes() == v[3].tobytes()


@pytest.mark.parametrize("options", [{"dim": 4}, {"n": 9}, {"dim": True}])
def test_char_ngram_rejects_bad_options(options: dict[str, object]) -> None:
    with pytest.raises(coldkit.InvalidInputError, match="char-ngram"):
        coldkit.get_encoder("char-ngram", **options)


def test_text_match_rejects_bad_options() -> None:
    with pytest.raises(coldkit.InvalidInputError, match="text_weight"):
        coldkit.get_model("text-match", text_weight=-1.0)


def test_coldkit_reads_text_match_options_through_its_lazy_factory() -> None:
    """A factory that forwarded **options hid the class: `--encoder hashing` was said to have "no effect" on
    text-match and it ran with char-ngram; a misspelt option got "it takes no options"."""
    from coldkit.exceptions import InvalidInputError
    from coldkit.models.registry import build_model, model_accepts, model_defaults

    assert model_accepts("text-match", "encoder") and model_accepts("text-match", "text_weight")
    assert model_defaults("text-match") == {"encoder": "char-ngram", "text_weight": 1.0}
    with pytest.raises(InvalidInputError, match="txt_weight") as caught:
        build_model("text-match", txt_weight=1)
    assert "takes no options" not in str(caught.value) and "text_weight" in str(caught.value)


def test_new_first_reranker_passes_the_kit_and_moves_new_items_up() -> None:
    from coldkit.testing import check_reranker

    check_reranker("new-first")
    check_reranker("new-first", options={"slots": 1})
    ranked = coldkit.Ranked(np.array([[4, 2, 7, 1, 5]]), np.array([[5.0, 4.0, 3.0, 2.0, 1.0]], dtype=np.float32))
    items = coldkit.ItemAttributes(is_new=np.isin(np.arange(8), [1, 7]))
    got = coldkit.get_reranker("new-first").rerank(ranked, 4, items=items).ranked.indices[0].tolist()
    assert got == [7, 1, 4, 2]  # the new items 7 and 1 first, in the fused order, then 4 and 2
    one = coldkit.get_reranker("new-first", slots=1).rerank(ranked, 4, constraints=coldkit.Constraints(exclude=[4]), items=items)
    assert one.ranked.indices[0].tolist() == [7, 2, 1, 5]  # one slot moved up; item 4 excluded
