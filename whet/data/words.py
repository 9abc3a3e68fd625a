"""Split raw text into words with character offsets.

Used for NER training data given as text with character spans and for predicting on raw
text, so that predicted word tags map back to character offsets. Offsets are Python string
indices (Unicode code points), end exclusive.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

# Between two word characters these join one word: "U.S", "don't", "1996-08-22", "3.14".
_CONNECTORS = frozenset("-'.\u2019")

# Chinese, Japanese and Korean write no spaces between words, so each ideograph, kana or
# hangul character is a word of its own; the model learns which characters form an entity.
_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x3040, 0x309F),  # Hiragana
    (0x30A0, 0x30FF),  # Katakana
    (0x3130, 0x318F),  # Hangul Compatibility Jamo
    (0x31F0, 0x31FF),  # Katakana Phonetic Extensions
    (0x3400, 0x4DBF),  # CJK Unified Ideographs Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xA960, 0xA97F),  # Hangul Jamo Extended-A
    (0xAC00, 0xD7AF),  # Hangul Syllables
    (0xD7B0, 0xD7FF),  # Hangul Jamo Extended-B
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0xFF66, 0xFF9F),  # Halfwidth Katakana
    (0x20000, 0x2FA1F),  # CJK Extensions B-F and Compatibility Supplement
    (0x30000, 0x323AF),  # CJK Extensions G-H
)


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def _is_word_char(char: str) -> bool:
    # Letters, digits and combining marks (so accented and Indic words stay whole).
    return (unicodedata.category(char)[0] in "LNM" or char == "_") and not _is_cjk(char)


def _is_separator(char: str) -> bool:
    # Invisible format and control characters (zero-width space, soft hyphen) separate words
    # like spaces do: a word made only of them would have no subword tokens.
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf")


def _split_segment(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    i = start
    while i < end:
        char = text[i]
        if _is_separator(char):
            i += 1
            continue
        if not _is_word_char(char):
            spans.append((i, i + 1))
            i += 1
            continue
        j = i + 1
        while j < end:
            if _is_word_char(text[j]):
                j += 1
            elif text[j] in _CONNECTORS and j + 1 < end and _is_word_char(text[j + 1]):
                j += 2
            else:
                break
        spans.append((i, j))
        i = j


def split_words(text: str, boundaries: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Split text into words and return their character spans.

    A word is a run of letters, digits, marks and underscores, which may contain a hyphen,
    apostrophe or period between two such characters. Every other visible character, and
    every CJK ideograph, kana or hangul character, is a word on its own. Whitespace and
    invisible characters separate words and belong to none.

    Args:
        text: The raw text.
        boundaries: Character positions (such as entity starts and ends) that must fall on
            word edges; the text is split there first. Positions outside the text are
            ignored.

    Returns:
        ``(start, end)`` of each word, end exclusive, in order.

    Example:
        >>> text = "Mr. O'Neil visited the U.S. on 1996-08-22."
        >>> [text[s:e] for s, e in split_words(text)]
        ['Mr', '.', "O'Neil", 'visited', 'the', 'U.S', '.', 'on', '1996-08-22', '.']
    """
    cuts = sorted({b for b in boundaries if 0 < b < len(text)})
    spans: list[tuple[int, int]] = []
    # Splitting each segment on its own (rather than cutting finished words) lets a cut
    # leave "foo-" as "foo" and "-", as if the other side were not there.
    edges = [0, *cuts, len(text)]
    for start, end in zip(edges, edges[1:]):
        _split_segment(text, start, end, spans)
    return spans
