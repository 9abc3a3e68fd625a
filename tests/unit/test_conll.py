from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whet.data.conll import read_conll, write_conll
from whet.data.examples import TaggedSentence
from whet.tasks import detect_format
from whet.tasks.token_classification import read_ner_file
from whet.errors import DataError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_reads_conll2003_with_docstart_and_extra_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path / "train.txt",
        "-DOCSTART- -X- -X- O\n"
        "\n"
        "EU NNP B-NP B-ORG\n"
        "rejects VBZ B-VP O\n"
        "\n"
        "Peter NNP B-NP B-PER\n"
        "-DOCSTART- -X- -X- O\n"
        "Blackburn NNP B-NP I-PER\n",
    )
    sentences = read_conll(path)
    assert [(s.tokens, s.tags) for s in sentences] == [
        (["EU", "rejects"], ["B-ORG", "O"]),
        (["Peter"], ["B-PER"]),
        (["Blackburn"], ["I-PER"]),
    ]
    assert [s.source for s in sentences] == [f"{path}:3", f"{path}:6", f"{path}:8"]
    assert sentences[0].text is None and sentences[0].offsets is None


def test_whitespace_only_lines_separate_sentences(tmp_path: Path) -> None:
    path = write(tmp_path / "a.conll", "a O\n   \t \nb O\n\t\nc O\n \n\n")
    assert [s.tokens for s in read_conll(path)] == [["a"], ["b"], ["c"]]


def test_crlf_bom_and_tabs(tmp_path: Path) -> None:
    # A line with a tab is split on tabs only, so its token may hold a space.
    path = write(tmp_path / "a.tsv", "\ufeffNew York\tB-LOC\r\nis  \t O\r\n\r\nx   y   B-PER\r\n")
    sentences = read_conll(path)
    assert [(s.tokens, s.tags) for s in sentences] == [
        (["New York", "is"], ["B-LOC", "O"]),
        (["x"], ["B-PER"]),
    ]


def test_reads_latin1_with_declared_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "de.txt", "Müller B-PER\nsagt O\n", encoding="latin-1")
    assert read_conll(path, encoding="latin-1")[0].tokens == ["Müller", "sagt"]


def test_utf8_decode_error_names_line_and_suggests_latin1(tmp_path: Path) -> None:
    path = write(tmp_path / "de.txt", "a O\n\nMüller B-PER\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"de\.txt:3: byte 0xfc cannot be decoded as utf-8; .*data\.encoding: latin-1"):
        read_conll(path)


def test_unknown_encoding(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "a O\n")
    with pytest.raises(DataError, match=r"a\.txt: unknown encoding 'utf-9'; set data\.encoding"):
        read_conll(path, encoding="utf-9")


def test_one_column_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "train.txt", "EU B-ORG\n\nrejects\n")
    with pytest.raises(
        DataError,
        match=r"train\.txt:3: expected at least 2 columns \(token and tag\), got 1; separate columns with spaces or tabs",
    ):
        read_conll(path)


def test_malformed_tag_names_line(tmp_path: Path) -> None:
    path = write(tmp_path / "train.txt", "EU B-ORG\nrejects PER\n")
    with pytest.raises(DataError, match=r"train\.txt:2: tag 'PER' is not 'O' or PREFIX-TYPE"):
        read_conll(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.txt not found; check the path in the data section"):
        read_conll(tmp_path / "nope.txt")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory, not a data file"):
        read_conll(tmp_path)


@pytest.mark.parametrize("text", ["", "\n\n  \n", "-DOCSTART- -X- O O\n\n"])
def test_no_sentences(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "empty.txt", text)
    with pytest.raises(DataError, match=r"empty\.txt: no sentences found"):
        read_conll(path)


def test_write_conll_format_and_skips_empty_sentences(tmp_path: Path) -> None:
    path = tmp_path / "out.conll"
    write_conll(
        [
            TaggedSentence(["EU", "rejects"], ["B-ORG", "O"]),
            TaggedSentence([], []),
            TaggedSentence(["New York"], ["B-LOC"]),
        ],
        path,
    )
    assert path.read_text(encoding="utf-8") == "EU\tB-ORG\nrejects\tO\n\nNew York\tB-LOC\n\n"
    assert [s.tokens for s in read_conll(path)] == [["EU", "rejects"], ["New York"]]


@pytest.mark.parametrize("token", ["", " a", "a\tb", "a\nb", "a\r"])
def test_write_conll_rejects_tokens_that_would_not_read_back(tmp_path: Path, token: str) -> None:
    sentence = TaggedSentence(["ok", token], ["O", "O"], source="in.jsonl:4")
    with pytest.raises(DataError, match=r"in\.jsonl:4: token .* cannot be written to CoNLL"):
        write_conll([sentence], tmp_path / "out.conll")


def test_write_conll_rejects_length_mismatch(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 tokens but 1 tags"):
        write_conll([TaggedSentence(["a", "b"], ["O"])], tmp_path / "out.conll")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.txt", "conll"), ("a.conll", "conll"), ("a.IOB", "conll"), ("a.bio", "conll"),
     ("a.tsv", "conll"), ("a.jsonl", "jsonl"), ("a.json", "jsonl")],
)
def test_detect_format_for_ner(name: str, expected: str) -> None:
    assert detect_format(name) == expected
    assert detect_format(name, task="token-classification") == expected


def test_detect_format_ner_errors() -> None:
    with pytest.raises(DataError, match=r"a\.csv: cannot tell the format from the extension '\.csv'; set data\.format to one of conll, jsonl"):
        detect_format("a.csv")
    with pytest.raises(DataError, match=r"data: cannot tell the format from the extension '\(none\)'"):
        detect_format("data")
    with pytest.raises(DataError, match=r"a\.txt: data\.format 'csv' is not a token-classification format; use one of conll, jsonl"):
        detect_format("a.txt", "csv")


def test_read_ner_file_dispatches(tmp_path: Path) -> None:
    conll = write(tmp_path / "a.data", "EU B-ORG\n")
    jsonl = write(tmp_path / "b.jsonl", '{"tokens": ["EU"], "tags": ["B-ORG"]}\n')
    assert read_ner_file(conll, format="conll")[0].tokens == ["EU"]
    assert read_ner_file(jsonl)[0].tags == ["B-ORG"]
    latin = write(tmp_path / "c.txt", "Müller B-PER\n", encoding="latin-1")
    assert read_ner_file(latin, encoding="latin-1")[0].tokens == ["Müller"]


TOKENS = st.text(min_size=1, max_size=8).filter(
    lambda t: t == t.strip()
    and not any(c in t for c in "\t\n\r")
    and not t.startswith("\ufeff")  # a byte order mark at the start of the file is dropped
    and t != "-DOCSTART-"
)
TAGS = st.sampled_from(["O", "B-PER", "I-PER", "E-LOC", "S-MISC", "B-WORK-OF-ART"])


@st.composite
def sentences(draw: st.DrawFn) -> TaggedSentence:
    tokens = draw(st.lists(TOKENS, min_size=1, max_size=6))
    tags = draw(st.lists(TAGS, min_size=len(tokens), max_size=len(tokens)))
    return TaggedSentence(tokens, tags)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(sentences(), min_size=1, max_size=5))
def test_write_read_round_trip(tmp_path: Path, original: list[TaggedSentence]) -> None:
    path = tmp_path / "round.conll"
    write_conll(original, path)
    read = read_conll(path)
    assert [(s.tokens, s.tags) for s in read] == [(s.tokens, s.tags) for s in original]
