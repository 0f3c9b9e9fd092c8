"""How coldkit splits text into words: :func:`words`, the one tokenizer of every lexical feature.

The hashing encoder's tokens (:func:`coldkit.builtins.encoders.tokenize`), the words that describe
a validation user's clicks (:func:`coldkit.models.tuning.describe_items`), the "matches your words"
reason (:func:`coldkit.models.blend.words`, through :func:`reader_words`, which joins the words an apostrophe splits) and the genres named in a user's text
(:class:`coldkit.models.popularity.GenrePopularity`) all call it, so they agree
on what a word is.

A word is a run of letters, digits and underscores (Python's ``\\w``) together with the combining
marks that follow them (Unicode categories Mn, Mc, Me, and the zero-width (non-)joiners that Indic
and Persian spelling puts inside words). ``\\w`` alone cuts every word of a script that writes its
vowels as marks: Hindi "संगीत" became "स", "ग", "त" (its anusvara and vowel sign are marks), and so
did Thai, Bengali, Tamil, Arabic with harakat and Latin typed in decomposed form ("cafe" + U+0301).
The text is NFC-normalised and lower-cased first, so both Unicode forms of one word are one word.
Chinese, Japanese and Korean, written without spaces (or with particles written onto a Korean word),
are read as overlapping character bigrams, as Lucene's CJKAnalyzer reads them; Thai is not cut (see
docs/encoders.md).

Example::

    words("Café del MAR")            # ['café', 'del', 'mar']
    words("संगीत और नृत्य")            # ['संगीत', 'और', 'नृत्य']
    words("科幻电影")                   # ['科幻', '幻电', '电影']
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["normalize", "words", "reader_words", "split_apart_before", "words_of_version", "TOKENIZER_VERSIONS", "unspaced", "cjk_bigram", "join_bigrams"]

# The pattern before combining marks counted: on text without marks both give the same words, and
# ASCII text (most catalogues) has none, so it skips the normalisation and the larger pattern.
_ASCII_WORD = re.compile(r"\w+")
#: Inside a word although not marks: ZERO WIDTH NON-JOINER (Persian "می‌خواهم") and ZERO WIDTH
#: JOINER (Devanagari, Bengali, Sinhala conjunct forms); Unicode's word boundaries (UAX #29) keep them too.
_JOINERS = "\u200c\u200d"


@lru_cache(maxsize=1)
def _word_pattern() -> re.Pattern[str]:
    """``\\w`` followed by any ``\\w`` or combining mark. Built on first use (a scan of the assigned planes,
    ~0.1 s, once per process) from this Python's ``unicodedata``: the stdlib ``re`` cannot say ``\\p{M}``, and its ``\\w``
    follows the same Unicode version, so the two agree (the ``regex`` package's ``\\w`` differs from
    ``re``'s, e.g. on "²", which would change existing words)."""
    # Planes 4-13 are unassigned and 15-16 private use (never a mark) in every Unicode version so far:
    # scanning planes 0-3 and 14 reads 330k code points instead of 1.1M.
    scanned = (*range(0x40000), *range(0xE0000, 0xF0000))
    marks = [c for c in scanned if unicodedata.category(chr(c)).startswith("M")]
    marks.extend(ord(c) for c in _JOINERS)
    marks.sort()
    ranges: list[tuple[int, int]] = []
    for c in marks:
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    cls = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    # A mark after a space or a punctuation sign belongs to no word (UAX #29 attaches it to what it follows).
    return re.compile(rf"\w[\w{cls}]*")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased, in order (repeats kept): runs of letters, digits and
    underscores with their combining marks, after NFC normalisation; a run of Chinese, Japanese or
    Korean letters as its overlapping character bigrams ("科幻电影" -> "科幻", "幻电", "电影").

    NFC, not NFKC: NFC only merges the encodings of one text (precomposed "é" and "e" + U+0301), so
    text typed without combining sequences keeps exactly its former words (and hashed vectors); NFKC
    would also fold distinct characters ("nº" -> "no", "x²" -> "x2", "ﬁ" -> "fi"), changing them.
    ``lower``, not ``casefold``: casefold turns "straße" into "strasse", changing German words that
    matched as typed before; ``lower`` already gives Greek final sigma its form in context. Turkish
    "İ" lower-cases to a plain "i" (not "i" + U+0307), as "İstanbul" is typed "istanbul".
    """
    if text.isascii():
        return _ASCII_WORD.findall(text.lower())
    return _bigrams(_word_pattern().findall(normalize(text)))


#: Han (with its iteration marks), Hiragana, Katakana (with the half-width forms) and Hangul: the scripts
#: whose runs :func:`words` reads as overlapping character bigrams, as Lucene's CJKAnalyzer does.
_CJK = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303b\u3040-\u30ff"
    "\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
    "\uff66-\uffdc\U0001aff0-\U0001b16f\U00020000-\U0003ffff]"
)


def _bigrams(runs: list[str]) -> list[str]:
    """``runs`` with each stretch of CJK characters (:data:`_CJK`, with the combining marks after one)
    as its overlapping character bigrams ("科幻电影" -> "科幻", "幻电", "电影"; one character alone
    stays itself); the rest of a run (Latin letters, digits beside them: "2001太空漫游") stays a word."""
    if not any(_CJK.search(run) for run in runs):
        return runs
    out: list[str] = []
    for run in runs:
        if not _CJK.search(run):
            out.append(run)
            continue
        units: list[str] = []  # CJK characters with their marks, of the stretch being read
        other = ""  # the non-CJK part being read
        for c in run:
            if unicodedata.category(c).startswith("M") or c in _JOINERS:  # the kana's combining voicing marks too
                if other:
                    other += c
                else:
                    units[-1] += c  # a run never starts with a mark: something came before
            elif _CJK.match(c):
                if other:
                    out.append(other)
                    other = ""
                units.append(c)
            else:
                if units:
                    out.extend(_pairs(units))
                    units = []
                other += c
        out.extend(_pairs(units))
        if other:
            out.append(other)
    return out


def cjk_bigram(word: str) -> bool:
    """Whether ``word`` (one of :func:`words`) is two Chinese, Japanese or Korean characters, such as the
    bigrams their runs are read as."""
    return len(word) == 2 and _CJK.match(word[0]) is not None and _CJK.match(word[1]) is not None


def join_bigrams(seq: list[str]) -> list[str]:
    """``seq`` with each chain of CJK bigrams that follow one another ("科幻", "幻电", "电影") as the run they
    spell ("科幻电影"), for a reader: the run's bigrams are exactly the chain, so :func:`words` reads it back alike."""
    out: list[str] = []
    chained = False  # whether out[-1] is a run of bigrams the next one may continue
    for word in seq:
        if cjk_bigram(word) and chained and out[-1][-1] == word[0]:
            out[-1] += word[1]
        else:
            out.append(word)
            chained = cjk_bigram(word)
    return out


def _pairs(units: list[str]) -> list[str]:
    """Overlapping bigrams of ``units``, or the one unit alone."""
    if len(units) == 1:
        return units
    return [a + b for a, b in zip(units, units[1:])]


#: Apostrophes that join the parts of one word ("don't", "don’t"); U+02BC MODIFIER LETTER APOSTROPHE is a
#: letter (``\\w``) and already inside its word.
_APOSTROPHES = "'\u2019"


def reader_words(text: str) -> list[str]:
    """The words of ``text`` as a reader sees them, to be shown (the "matches your words" reason).

    :func:`words` joined across one apostrophe between two of them, written as ``'`` ("don't", "don’t"
    -> "don't"; "l'amour", "rock'n'roll", "o'brien"), and an English possessive "'s" dropped
    ("children's" -> "children", "Schindler's" -> "schindler"). :func:`words` itself splits at every
    apostrophe, as it always has: the hashing encoder's vectors (and so every index built with it) keep
    their tokens, and "schindler" still matches "Schindler's" there; but "don" and "t" are no words to
    show a reader ("matches your words: don" for "I don't like..." and "Don Juan").
    """
    lowered = text.lower() if text.isascii() else normalize(text)
    pattern = _ASCII_WORD if text.isascii() else _word_pattern()
    out: list[str] = []
    end = -2
    for match in pattern.finditer(lowered):
        if out and match.start() == end + 1 and lowered[end] in _APOSTROPHES:
            out[-1] += "'" + match.group()
        else:
            out.append(match.group())
        end = match.end()
    return _bigrams([w[:-2] if w.endswith("'s") else w for w in out])


def normalize(text: str) -> str:
    """``text`` as :func:`words` reads it: NFC, lower case, Turkish "İ" as a plain "i" (for a caller that
    matches names inside a text, such as a genre, rather than splitting it into words)."""
    if text.isascii():
        return text.lower()
    lowered = unicodedata.normalize("NFC", text).lower()
    if "\u0307" in lowered:
        # "İ" (Turkish capital dotted I) lower-cases to "i" + COMBINING DOT ABOVE, a dot the "i" already
        # has: without this "SİNAN" (lastfm-2k's artists) would not match "sinan" as people type it.
        lowered = lowered.replace("i\u0307", "i")
    return lowered


#: The tokenizer versions before this one, as the hashing encoder's fingerprints name them: v1 ``\\w+`` on
#: the lower-cased text; v2 with combining marks inside words, CJK runs not yet cut into bigrams (v3).
TOKENIZER_VERSIONS = ("v1", "v2", "v3")


def words_of_version(text: str, version: str) -> list[str]:
    """The words tokenizer ``version`` (:data:`TOKENIZER_VERSIONS`) gave ``text``; ``"v3"`` is :func:`words`."""
    if version == "v1":
        return _ASCII_WORD.findall(text.lower())
    if version == "v2":
        return _ASCII_WORD.findall(text.lower()) if text.isascii() else _word_pattern().findall(normalize(text))
    if version == "v3":
        return words(text)
    raise ValueError(f"unknown tokenizer version {version!r}; known: {', '.join(TOKENIZER_VERSIONS)}")


def split_apart_before(text: str, version: str = "v1") -> bool:
    """Whether tokenizer ``version`` (by default the first, ``\\w+`` on the lower-cased text) gave ``text``
    other words than :func:`words` does: only text with non-ASCII letters can differ, and since v2 only
    text with Chinese, Japanese or Korean letters (an index or a cache built before holds other vectors for it)."""
    return not text.isascii() and words_of_version(text, version) != words(text)


#: Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, and the CJK ones (Han,
#: Hiragana, Katakana; Hangul is spaced, but by phrase, its particles written onto the word).
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u1100-\u11ff\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029"
    "\u3031-\u3035\u3038-\u303c\u3040-\u30ff\u3130-\u318f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uffdc\U00020000-\U0003ffff]"
)


def unspaced(text: str) -> bool:
    """Whether ``text`` has a letter of a script written without spaces between its words (Chinese,
    Japanese, Korean's Hangul, Thai, Lao, Myanmar, Khmer): a name in it has no word boundary to be matched at."""
    return not text.isascii() and _UNSPACED.search(text) is not None


def text_cells(frame: "pd.DataFrame") -> "pd.DataFrame":
    """``frame``'s cells as strings (pandas' ``string`` dtype, missing cells <NA>), whole numbers as a file writes them.

    Why: pandas reads an integer column with a blank cell as float, so "1995" became the text "1995.0" (and
    the hashing encoder's word "0" was shared by every such item). A float column that has a missing cell
    and whose values are all whole numbers (below 2**53) is written without the ".0"; any other column as
    ``astype("string")`` writes it (a column of 4.0 and 5.0 with no blank keeps its ".0": that is the file's).
    """
    import pandas as pd  # not at import: `import coldkit` imports this module and stays free of pandas

    columns = []
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if column.dtype.kind == "f" and bool(column.isna().any()):
            present = column.dropna().to_numpy()
            if present.size and np.isfinite(present).all() and (np.abs(present) < 2.0**53).all() and (present == np.round(present)).all():
                column = column.astype("Int64")
        columns.append(column.astype("string"))
    return pd.concat(columns, axis=1) if columns else frame.astype("string")
