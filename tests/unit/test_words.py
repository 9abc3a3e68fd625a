from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whet.data.words import split_words


def words(text: str, boundaries: list[int] | tuple[int, ...] = ()) -> list[str]:
    return [text[start:end] for start, end in split_words(text, boundaries)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   \n\t ", []),
        ("EU rejects German call", ["EU", "rejects", "German", "call"]),
        ("the U.S. said", ["the", "U.S", ".", "said"]),
        ("don't stop", ["don't", "stop"]),
        ("don\u2019t", ["don\u2019t"]),
        ("on 1996-08-22.", ["on", "1996-08-22", "."]),
        ("pi is 3.14!", ["pi", "is", "3.14", "!"]),
        ("x--y -z a-", ["x", "-", "-", "y", "-", "z", "a", "-"]),
        ("(hello), 'you'", ["(", "hello", ")", ",", "'", "you", "'"]),
        ("$100 & snake_case", ["$", "100", "&", "snake_case"]),
        ("café naïve e\u0301t\u00e9", ["café", "naïve", "e\u0301t\u00e9"]),  # combining mark stays
        ("हिन्दी भाषा", ["हिन्दी", "भाषा"]),  # Devanagari vowel signs are marks
        ("北京大学在2008年", ["北", "京", "大", "学", "在", "2008", "年"]),
        ("ありがとう カタカナ", ["あ", "り", "が", "と", "う", "カ", "タ", "カ", "ナ"]),
        ("한국어", ["한", "국", "어"]),
        ("a\u200bb\u00adc", ["a", "b", "c"]),  # invisible characters separate words
        ("👍🏽 ok", ["👍", "🏽", "ok"]),
    ],
)
def test_split_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected


@pytest.mark.parametrize(
    ("text", "boundaries", "expected"),
    [
        ("pro-EU vote", [4, 6], ["pro", "-", "EU", "vote"]),  # the cut "pro-" splits again
        ("New York-based", [0, 8], ["New", "York", "-", "based"]),
        ("Washingtonian", [10], ["Washington", "ian"]),
        ("U.S.A", [2], ["U", ".", "S.A"]),
        ("北京大学", [0, 2], ["北", "京", "大", "学"]),
        ("ab cd", [-3, 0, 2, 3, 5, 99], ["ab", "cd"]),  # edges, gaps and outside: no effect
    ],
)
def test_split_words_at_boundaries(text: str, boundaries: list[int], expected: list[str]) -> None:
    assert words(text, boundaries) == expected


def test_offsets_index_the_original_text() -> None:
    text = "  Mr. O'Neil\n"
    assert split_words(text) == [(2, 4), (4, 5), (6, 12)]


def is_separator(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf")


ALPHABET = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(list(" \t\n-'.\u2019_aZ9北한あ")),
)


@settings(max_examples=200)
@given(st.text(ALPHABET, max_size=40), st.lists(st.integers(-2, 42), max_size=6))
def test_split_words_properties(text: str, boundaries: list[int]) -> None:
    spans = split_words(text, boundaries)
    covered: set[int] = set()
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        previous_end = end
        assert not any(is_separator(c) for c in text[start:end])
        covered.update(range(start, end))
        # Every boundary falls on a word edge, never strictly inside a word.
        assert not any(start < b < end for b in boundaries)
    # Every visible character belongs to exactly one word.
    assert covered == {i for i, c in enumerate(text) if not is_separator(c)}
