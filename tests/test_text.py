"""coldkit.text.words, the one tokenizer: whole words in scripts that write vowels as combining marks,
one word for both Unicode forms, and exactly the former words for text without combining marks."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import coldkit.builtins.encoders as encoders
from coldkit.builtins.encoders import HashingEncoder, tokenize
from coldkit.data.datasets import EMBEDDED_DIR
from coldkit.encoding import VectorCache, encode_catalog, text_key
from coldkit.models.tuning import describe_items
from coldkit.text import reader_words, words

REPO = Path(__file__).resolve().parents[1]
_OLD_WORD = re.compile(r"\w+")  # the tokenizer before combining marks counted (the reference for unchanged text)


def old_words(text: str) -> list[str]:
    return _OLD_WORD.findall(text.lower())


def reference_words(text: str) -> list[str]:
    """Independent re-derivation, one character at a time: a word starts at a letter, digit or underscore
    (str.isalnum, what re's \\w means) and goes on through those and combining marks (category M*) or
    zero-width (non-)joiners; NFC first, lower case, Turkish "İ" lower-cased to a plain "i"."""
    text = unicodedata.normalize("NFC", text).lower().replace("i\u0307", "i")
    out: list[str] = []
    current = ""
    for c in text:
        if c.isalnum() or c == "_" or (current and (unicodedata.category(c).startswith("M") or c in "\u200c\u200d")):
            current += c
        elif current:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Hindi (Devanagari): "Indian classical music"; vowel signs, anusvara and virama are marks
        ("भारतीय शास्त्रीय संगीत", ["भारतीय", "शास्त्रीय", "संगीत"]),
        # Thai: "music, country songs" (sara u and mai ek are marks)
        ("ดนตรี ลูกทุ่ง", ["ดนตรี", "ลูกทุ่ง"]),
        # Arabic with harakat: "Arabic music"
        ("مُوسِيقَى عَرَبِيَّة", ["مُوسِيقَى", "عَرَبِيَّة"]),
        # Bengali "Bangla songs", Tamil "Tamil music"
        ("বাংলা গান", ["বাংলা", "গান"]),
        ("தமிழ் இசை", ["தமிழ்", "இசை"]),
        # Latin typed decomposed (e + COMBINING ACUTE): the precomposed words, lower-cased
        ("Cafe\u0301 AME\u0301LIE", ["caf\u00e9", "am\u00e9lie"]),
        # Persian keeps its ZERO WIDTH NON-JOINER inside the word ("I want")
        ("می\u200cخواهم", ["می\u200cخواهم"]),
        # Turkish capital dotted I: "sinan" as people type it, not "si" + "nan"
        ("SİNAN ÖZEN", ["sinan", "özen"]),
        # a mark after a space belongs to no word
        ("\u0301abc \u0301", ["abc"]),
        # unchanged: no NFKC folding, no casefold, Greek final sigma kept
        ("x² nº Straße ΟΔΟΣ", ["x²", "nº", "straße", "οδος"]),
        ("Toy Story (1995). Adventure|Children's", ["toy", "story", "1995", "adventure", "children", "s"]),
    ],
)
def test_words_by_hand(text: str, expected: list[str]) -> None:
    assert words(text) == expected
    assert reference_words(text) == expected


def test_final_sigma_is_the_final_form() -> None:
    assert words("ΟΔΟΣ")[0][-1] == "\u03c2"  # ς, as "οδός" is typed


def test_both_unicode_forms_hash_alike() -> None:
    enc = HashingEncoder(dim=256)
    nfc, nfd = "Amélie à Paris", unicodedata.normalize("NFD", "Amélie à Paris")
    assert nfc != nfd
    assert tokenize(nfc) == tokenize(nfd) == ["amélie", "à", "paris"]
    v = enc.encode_texts([nfc, nfd])
    assert v[0].tobytes() == v[1].tobytes()


def test_hashing_matches_a_shared_devanagari_word_not_a_shared_fragment() -> None:
    classical = "शास्त्रीय संगीत"  # "classical music"
    festival = "संगीत सभा"  # "music gathering": shares the word संगीत
    colours = "सात रंग"  # "seven colours": no word in common, only the letters स, त, र, ग that \w cut out
    v = HashingEncoder(dim=2**16).encode_texts([classical, festival, colours])
    # before: cosine 0.70 with the shared word, 0.86 with the unrelated fragments
    assert float(v[0] @ v[1]) == pytest.approx(0.5, abs=1e-6)  # one of two words shared, each side
    assert float(v[0] @ v[2]) == pytest.approx(0.0, abs=1e-6)


def test_describe_items_says_whole_words() -> None:
    texts = ["शास्त्रीय संगीत", "भारतीय संगीत", "ดนตรี ลูกทุ่ง", "ลูกทุ่ง ไทย", "Cafe\u0301 del mar", "Café Tacvba"]
    assert describe_items(texts).split(", ") == ["संगीत", "ลูกทุ่ง", "café", "शास्त्रीय", "भारतीय", "ดนตรี", "ไทย", "del", "mar", "tacvba"]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_words_are_the_runs_of_word_characters(text: str) -> None:
    assert words(text) == reference_words(text)
    assert words(unicodedata.normalize("NFD", text)) == words(unicodedata.normalize("NFC", text))
    # the words, once more separated by spaces, are the same words
    assert words(" ".join(words(text))) == words(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0xFF, blacklist_categories=("Cs",)), max_size=40))
def test_latin_1_text_keeps_its_former_words(text: str) -> None:
    assert words(text) == old_words(text)


def _real_texts() -> dict[str, list[str]]:
    movies = pd.read_csv(EMBEDDED_DIR / "ml-latest-small" / "movies.csv.gz")
    with gzip.open(EMBEDDED_DIR / "ml-latest-small" / "tags.csv.gz", "rt", encoding="utf-8") as f:
        tags = pd.read_csv(f)
    texts = {
        "ml-latest-small titles": (movies["title"].astype(str) + ". " + movies["genres"].astype(str)).tolist(),
        "ml-latest-small tags": tags["tag"].astype(str).tolist(),
    }
    for root in (os.environ.get("COLDKIT_DATA"), REPO.parent / "shared" / "data", REPO.parents[1] / "shared" / "data"):
        folder = Path(root) / "lastfm-2k" if root else None
        if folder is not None and (folder / "tags.dat").is_file():
            texts["lastfm-2k tags"] = pd.read_csv(folder / "tags.dat", sep="\t", encoding="latin-1")["tagValue"].astype(str).tolist()
            texts["lastfm-2k artists"] = pd.read_csv(folder / "artists.dat", sep="\t")["name"].astype(str).tolist()
            break
    return texts


def test_real_titles_and_tags_keep_their_words_and_vectors(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, texts in _real_texts().items():
        # every text as typed without a combining mark (lastfm-2k's artists hold a Thai name, NFD
        # "Rihannà" and Turkish "İ"s, which now give whole words: test_words_by_hand)
        plain = [t for t in texts if not any(unicodedata.category(c).startswith("M") for c in t.lower())]
        assert len(plain) >= len(texts) - 20, name
        assert [words(t) for t in plain] == [old_words(t) for t in plain], name
        new = HashingEncoder(dim=4096, ngrams=2).fit(plain).encode_texts(plain)
        with monkeypatch.context() as m:
            m.setattr(encoders, "_words", old_words)
            old = HashingEncoder(dim=4096, ngrams=2).fit(plain).encode_texts(plain)
        assert new.tobytes() == old.tobytes(), name
        assert np.any(new), name


def test_a_cache_of_the_old_fragments_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "शास्त्रीय संगीत"
    # what the previous version (fingerprint v1, the same key: the text) left in the cache
    v1 = hashlib.sha256(b"hashing-tfidf/v1/dim=64/ngrams=1/sub=True/stem=True").hexdigest()[:32]
    with monkeypatch.context() as m:
        m.setattr(encoders, "_words", old_words)
        fragments = HashingEncoder(dim=64).encode_texts([text])
    VectorCache(tmp_path, v1, 64, name="hashing").put([text_key(text)], fragments)
    encoder = HashingEncoder(dim=64)
    assert encoder.fingerprint != v1
    got = encode_catalog([text], encoder, cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(np.asarray(got), encoder.encode_texts([text]), atol=1e-6)
    assert float(np.asarray(got)[0] @ fragments[0]) < 0.9  # the cached fragments would have given 1.0


def _index_built_before_v2(tmp_path: Path, titles: list[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A serving index saved as the first tokenizer saved it: fragment words, fingerprint v1."""
    from coldkit.serving import build_index_from_files

    tmp_path.mkdir()
    (tmp_path / "items.csv").write_text("item_id,title\n" + "".join(f"i{j},{t}\n" for j, t in enumerate(titles)), encoding="utf-8")
    (tmp_path / "int.csv").write_text("user_id,item_id\n" + "".join(f"u{j % 3},i{j}\n" for j in range(len(titles))), encoding="utf-8")
    with monkeypatch.context() as m:
        m.setattr(encoders, "_words", old_words)
        m.setattr(HashingEncoder, "fingerprint", property(lambda self: self.fingerprint_v1))
        build_index_from_files(tmp_path / "idx", interactions=tmp_path / "int.csv", items=tmp_path / "items.csv", encoder="hashing").close()
    return tmp_path / "idx"


def test_an_index_built_before_combining_marks_counted_opens_where_its_texts_tokenise_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # every hashing index built before the v2 fingerprint was refused ("different model files or version?"),
    # though an ASCII catalogue's vectors are the same bits
    from coldkit.serving import load

    titles = ["Space opera", "Cafe society", "Robots at war", "Jazz nights", "Cowboy story", "Noir city"]
    index = load(_index_built_before_v2(tmp_path / "a", titles, monkeypatch), read_only=True)
    assert index.recommend(user_id="u0", k=3).items


def test_an_index_built_before_combining_marks_counted_is_refused_where_its_texts_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from coldkit.serving import load
    from coldkit.serving.errors import EncoderMismatchError

    titles = ["Space opera", "शास्त्रीय संगीत", "Robots at war", "Jazz nights", "Cowboy story", "Noir city"]
    with pytest.raises(EncoderMismatchError, match=r"first tokenizer.*1 of its item and user texts tokenise differently now "
                                                   r"\(e\.g\. 'शास्त्रीय संगीत'\): rebuild it"):
        load(_index_built_before_v2(tmp_path / "b", titles, monkeypatch), read_only=True)


# ------------------------------------------------------------------ apostrophes: the words shown to a reader


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I don't like it", ["i", "don't", "like", "it"]),
        ("don’t DON'T", ["don't", "don't"]),  # the typographic apostrophe is the same word
        ("L'Amour, rock'n'roll and O'Brien", ["l'amour", "rock'n'roll", "and", "o'brien"]),
        ("Children's Schindler’s List", ["children", "schindler", "list"]),  # a possessive is its noun
        ("'quoted' words' end ' alone", ["quoted", "words", "end", "alone"]),  # quotes join no words
        ("it''s two", ["it", "s", "two"]),  # two apostrophes are no apostrophe inside a word
    ],
)
def test_reader_words_keep_a_word_with_an_apostrophe_whole(text: str, expected: list[str]) -> None:
    assert reader_words(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab' ’-\u00e9") + ["s", "\u0301"]), max_size=30))
def test_reader_words_are_the_words_joined_at_apostrophes(text: str) -> None:
    # independent of reader_words' scan: the tokenizer's words, read again after every apostrophe
    # inside a word became a letter no text holds ("q" here), then turned back
    text = unicodedata.normalize("NFC", text)
    marked, in_word = "", False
    for i, c in enumerate(text):
        joins = c in "'’" and in_word and i + 1 < len(text) and (text[i + 1].isalnum() or text[i + 1] == "_")
        marked += "q" if joins else c
        in_word = c.isalnum() or c == "_" or (in_word and unicodedata.category(c).startswith("M"))
    expected = [w.replace("q", "'") for w in words(marked)]
    expected = [w[:-2] if w.endswith("'s") else w for w in expected]
    assert reader_words(text) == expected
    assert [p for w in reader_words(text) for p in w.split("'")] == [p for w in expected for p in w.split("'")]


def test_matches_your_words_says_dont_never_don() -> None:
    from coldkit.models.blend import shared_words

    # before: "matches your words: don" for a user who wrote "I don't like horror", on Don Juan DeMarco
    assert shared_words("I don't like horror", "Don Juan DeMarco (1995). Comedy|Drama|Romance") == []
    # a negation shared with a title is no reason either; the genre is
    assert shared_words("I don't like horror", "Don't Look Now (1973). Horror|Thriller") == ["horror"]
    assert shared_words("O'Brien, children's tales", "Conan O'Brien tells children stories") == ["children", "o'brien"]
    # the encoder's words are as they were: an ASCII catalogue keeps its vectors
    assert words("Don't Look Now. Children's") == ["don", "t", "look", "now", "children", "s"]
