"""coldkit.text.words, the one tokenizer: whole words in scripts that write vowels as combining marks,
one word for both Unicode forms, and exactly the former words for text without combining marks."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import unicodedata
from pathlib import Path
from typing import Iterator

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
    return [piece for run in out for piece in reference_bigrams(run)]


#: Unicode character names of the letters read as bigrams: Han, kana, Hangul (as Lucene's CJKAnalyzer)
_CJK_NAMES = ("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH", "HIRAGANA", "KATAKANA", "HANGUL", "HALFWIDTH KATAKANA",
              "HALFWIDTH HANGUL", "IDEOGRAPHIC ITERATION MARK", "IDEOGRAPHIC CLOSING MARK", "IDEOGRAPHIC NUMBER ZERO",
              "VERTICAL IDEOGRAPHIC ITERATION MARK", "HANGZHOU NUMERAL", "VERTICAL KANA REPEAT", "HENTAIGANA")


def reference_bigrams(run: str) -> list[str]:
    """One run of word characters, each stretch of CJK letters (by Unicode name, with the marks after
    them) as its overlapping bigrams, or itself alone; the other stretches as they are."""
    pieces: list[tuple[bool, list[str]]] = []  # (is CJK, its units)
    for c in run:
        if unicodedata.category(c).startswith("M") or c in "\u200c\u200d":
            pieces[-1][1][-1] += c
        elif unicodedata.name(c, "").startswith(_CJK_NAMES):
            if pieces and pieces[-1][0]:
                pieces[-1][1].append(c)
            else:
                pieces.append((True, [c]))
        elif pieces and not pieces[-1][0]:
            pieces[-1][1][0] += c
        else:
            pieces.append((False, [c]))
    out: list[str] = []
    for cjk, units in pieces:
        out.extend([a + b for a, b in zip(units, units[1:])] if cjk and len(units) > 1 else units)
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
        # and without Chinese, Japanese or Korean letters (298 of lastfm-2k's artists, now read as bigrams:
        # test_real_cjk_names_are_read_as_bigrams)
        plain = [t for t in texts if not any(unicodedata.category(c).startswith("M") for c in t.lower()) and not _has_cjk(t)]
        assert len(plain) >= len(texts) - (320 if name == "lastfm-2k artists" else 20), name
        assert [words(t) for t in plain] == [old_words(t) for t in plain], name
        new = HashingEncoder(dim=4096, ngrams=2).fit(plain).encode_texts(plain)
        with monkeypatch.context() as m:
            m.setattr(encoders, "_words", old_words)
            old = HashingEncoder(dim=4096, ngrams=2).fit(plain).encode_texts(plain)
        assert new.tobytes() == old.tobytes(), name
        assert np.any(new), name


def _has_cjk(text: str) -> bool:
    return any(unicodedata.name(c, "").startswith(_CJK_NAMES) for c in text)


def test_real_cjk_names_are_read_as_bigrams() -> None:
    artists = _real_texts().get("lastfm-2k artists")
    if artists is None:
        pytest.skip("lastfm-2k not found")
    cjk = [t for t in artists if _has_cjk(t)]
    assert 250 <= len(cjk) <= 320  # Korean, Japanese and Chinese artists: 298
    assert [words(t) for t in cjk] == [reference_words(t) for t in cjk]
    assert words("宇多田ヒカル") == ["宇多", "多田", "田ヒ", "ヒカ", "カル"]
    # a name written otherwise shares its bigrams, where the whole run was one word before (cosine 0)
    v = HashingEncoder(dim=2**16).encode_texts(["宇多田ヒカル", "宇多田"])
    assert float(v[0] @ v[1]) > 0.5


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


@contextlib.contextmanager
def _tokenizer_of(version: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The hashing encoder as an earlier coldkit had it: its words ("v1": fragment words; "v2": CJK runs whole)
    and its fingerprint."""
    from coldkit.text import words_of_version

    read = old_words if version == "v1" else (lambda text: words_of_version(text, version))
    with monkeypatch.context() as m:
        m.setattr(encoders, "_words", read)
        m.setattr(HashingEncoder, "fingerprint", property(lambda self: getattr(self, f"fingerprint_{version}")))
        yield


def _index_built_with(version: str, tmp_path: Path, titles: list[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A serving index of ``titles`` saved as the ``version`` tokenizer saved it (see :func:`_tokenizer_of`)."""
    from coldkit.serving import build_index_from_files

    tmp_path.mkdir()
    (tmp_path / "items.csv").write_text("item_id,title\n" + "".join(f"i{j},{t}\n" for j, t in enumerate(titles)), encoding="utf-8")
    (tmp_path / "int.csv").write_text("user_id,item_id\n" + "".join(f"u{j % 3},i{j}\n" for j in range(len(titles))), encoding="utf-8")
    with _tokenizer_of(version, monkeypatch):
        build_index_from_files(tmp_path / "idx", interactions=tmp_path / "int.csv", items=tmp_path / "items.csv", encoder="hashing").close()
    return tmp_path / "idx"


def _index_built_before_v2(tmp_path: Path, titles: list[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A serving index saved as the first tokenizer saved it: fragment words, fingerprint v1."""
    return _index_built_with("v1", tmp_path, titles, monkeypatch)


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


# ------------------------------------------------------------------ Chinese, Japanese, Korean: character bigrams


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我喜欢科幻电影", ["我喜", "喜欢", "欢科", "科幻", "幻电", "电影"]),
        ("猫", ["猫"]),  # one character alone is its own word
        ("2001太空漫游 iPhone手机", ["2001", "太空", "空漫", "漫游", "iphone", "手机"]),  # other letters stay a word
        ("千と千尋の神隠し", ["千と", "と千", "千尋", "尋の", "の神", "神隠", "隠し"]),  # kana and Han alike
        ("スター・ウォーズ", ["スタ", "ター", "ウォ", "ォー", "ーズ"]),  # the middle dot is punctuation
        ("영화를 좋아해요", ["영화", "화를", "좋아", "아해", "해요"]),  # Hangul: its particles come off
        ("か\u3099き", ["がき"]),  # NFC composes the combining voicing mark
        ("ดนตรีลูกทุ่ง", ["ดนตรีลูกทุ่ง"]),  # Thai is not cut (see docs/encoders.md)
    ],
)
def test_cjk_runs_are_read_as_bigrams(text: str, expected: list[str]) -> None:
    assert words(text) == expected
    assert reference_words(text) == expected


_CJK_ALPHABET = st.sampled_from(list("科幻电影我の千と尋かきスター영화를a1_ \u3099\u0301・。-") + ["\u309a", "\u4e00", "\uff76", "\u3005"])


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=_CJK_ALPHABET, max_size=30))
def test_cjk_words_are_the_reference_bigrams(text: str) -> None:
    assert words(text) == reference_words(text)
    assert words(unicodedata.normalize("NFD", text)) == words(unicodedata.normalize("NFC", text))


def test_a_chinese_sentence_shares_its_words_with_a_title() -> None:
    from coldkit.models.blend import shared_words

    # before: each text one word, cosine 0 and no word to show
    v = HashingEncoder(dim=2**16).encode_texts(["我喜欢科幻电影", "科幻电影", "爵士音乐"])
    assert float(v[0] @ v[1]) == pytest.approx(3 / np.sqrt(6 * 3), abs=1e-6)  # 3 bigrams of 6 and of 3
    assert float(v[0] @ v[2]) == pytest.approx(0.0, abs=1e-6)
    assert shared_words("我喜欢科幻电影", "经典科幻电影") == ["科幻电影"]  # the run, not its bigrams
    assert shared_words("我喜欢科幻电影和爵士", "电影 科幻 jazz") == ["电影", "科幻"]  # apart in the title: apart
    assert shared_words("宫崎骏的动画", "宮崎駿 animation") == []  # traditional vs simplified: no shared bigram


def _index_built_before_v3(tmp_path: Path, titles: list[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A serving index saved as the v2 tokenizer saved it: CJK runs whole, fingerprint v2."""
    return _index_built_with("v2", tmp_path, titles, monkeypatch)


def test_an_index_built_before_cjk_bigrams_opens_where_its_texts_tokenise_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from coldkit.serving import load

    titles = ["Space opera", "शास्त्रीय संगीत", "Amélie", "Jazz nights", "ดนตรี ลูกทุ่ง", "Noir city"]
    index = load(_index_built_before_v3(tmp_path / "a", titles, monkeypatch), read_only=True)
    assert index.recommend(user_id="u0", k=3).items


def test_an_index_built_before_cjk_bigrams_is_refused_where_its_texts_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from coldkit.serving import load
    from coldkit.serving.errors import EncoderMismatchError

    titles = ["Space opera", "千と千尋の神隠し", "Robots at war", "宇多田ヒカル", "Cowboy story", "Noir city"]
    with pytest.raises(EncoderMismatchError, match=r"before Chinese, Japanese and Korean text was read as character bigrams; "
                                                   r"2 of its item and user texts tokenise differently now \(e\.g\. '千と千尋の神隠し'\): rebuild it"):
        load(_index_built_before_v3(tmp_path / "b", titles, monkeypatch), read_only=True)


def test_the_cjk_letters_are_those_unicode_names_so() -> None:
    # every word character the tokenizer reads as a bigram letter, against the Unicode names (all planes)
    from coldkit.text import _CJK

    differ = [hex(c) for c in range(0x110000) if chr(c).isalnum() and not unicodedata.category(chr(c)).startswith("M")
              and bool(_CJK.match(chr(c))) != unicodedata.name(chr(c), "").startswith(_CJK_NAMES)]
    assert differ == []


def test_an_index_built_before_cjk_bigrams_is_refused_where_a_logged_item_write_holds_such_a_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An item added online is logged with the vectors it was given then: an index built and written before
    the bigrams, whose snapshot holds no CJK text but whose write-ahead log adds "千と千尋の神隠し", replayed
    that item's whole-run vector and opened; the item then shared no word with any query of today's
    tokenizer, silently. The texts the log adds are checked as the snapshot's are."""
    from coldkit.serving import load
    from coldkit.serving.errors import EncoderMismatchError

    root = _index_built_before_v3(tmp_path / "c", ["Space opera", "Robots at war", "Cowboy story", "Noir city"], monkeypatch)
    with _tokenizer_of("v2", monkeypatch):  # the same coldkit as built it writes an item online, logged
        index = load(root)
        index.upsert_items([{"id": "spirited", "text": "千と千尋の神隠し"}])
        index.close()
    with pytest.raises(EncoderMismatchError, match=r"before Chinese, Japanese and Korean text was read as character bigrams; "
                                                   r"1 of its item and user texts tokenise differently now \(e\.g\. '千と千尋の神隠し'\)"):
        load(root, read_only=True)
    # an ASCII item logged the same way changes nothing: such an index still opens
    root = _index_built_before_v3(tmp_path / "d", ["Space opera", "Robots at war", "Cowboy story", "Noir city"], monkeypatch)
    with _tokenizer_of("v2", monkeypatch):
        index = load(root)
        index.upsert_items([{"id": "jazz", "text": "Jazz nights"}])
        index.close()
    assert load(root, read_only=True).has_item("jazz")
