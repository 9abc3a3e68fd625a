from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from whet.data.examples import TextExample
from whet.data.tabular import read_text_examples
from whet.tasks import detect_format
from whet.tasks.sequence_classification import read_classification_file
from whet.errors import DataError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def write_jsonl(path: Path, *records: Any) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    return write(path, "\n".join(lines) + "\n")


def summary(examples: list[TextExample]) -> list[tuple[str, list[str], str | None]]:
    return [(e.text, e.labels, e.text_pair) for e in examples]


def test_csv_single_label(tmp_path: Path) -> None:
    path = write(tmp_path / "train.csv", 'text,label\n"great, really ""great""",pos\n\nmeh,neg\n')
    examples = read_text_examples(path, format="csv")
    assert summary(examples) == [('great, really "great"', ["pos"], None), ("meh", ["neg"], None)]
    assert [e.source for e in examples] == [f"{path}:2", f"{path}:4"]


def test_csv_multiline_field_keeps_first_line_as_source(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", 'text,label\r\n"line one\r\nline two",x\r\nnext,y\r\n')
    examples = read_text_examples(path, format="csv")
    assert summary(examples) == [("line one\r\nline two", ["x"], None), ("next", ["y"], None)]
    assert [e.source for e in examples] == [f"{path}:2", f"{path}:4"]


def test_tsv_pairs_and_stripped_header(tmp_path: Path) -> None:
    path = write(tmp_path / "nli.tsv", "\ufeffpremise\t hypothesis \tlabel\nA man sleeps.\tA man rests.\tentailment\n")
    examples = read_text_examples(path, format="tsv", text_column="premise", text_pair_column="hypothesis")
    assert summary(examples) == [("A man sleeps.", ["entailment"], "A man rests.")]


def test_csv_multi_label_and_blank_rows(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "text,label\na,x|y\nb,\nc, y | x |y\n,,\n")
    examples = read_text_examples(path, format="csv", multi_label=True)
    assert summary(examples) == [("a", ["x", "y"], None), ("b", [], None), ("c", ["y", "x"], None)]


def test_jsonl_labels(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.jsonl",
        {"text": "a", "label": 3},
        {"text": "b", "label": True},
        {"text": "c", "label": " pos "},
        {"text": "d", "label": 0.5},
    )
    assert [e.labels for e in read_text_examples(path, format="jsonl")] == [["3"], ["true"], ["pos"], ["0.5"]]


def test_jsonl_multi_label(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.jsonl",
        {"text": "a", "labels": ["x", "y", "x"]},
        {"text": "b", "labels": "x;y"},
        {"text": "c", "labels": []},
        {"text": "d", "labels": None},
        {"text": "e", "labels": ""},
        {"text": "f", "labels": 7},
    )
    examples = read_text_examples(path, format="jsonl", label_column="labels", multi_label=True, label_separator=";")
    assert [e.labels for e in examples] == [["x", "y"], ["x", "y"], [], [], [], ["7"]]


def test_prediction_input_without_labels(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "a.csv", "text\nhello\n")
    jsonl_path = write_jsonl(tmp_path / "a.jsonl", {"text": "a"}, {"text": "b", "label": ""}, {"text": "c", "label": "x"})
    assert summary(read_text_examples(csv_path, format="csv", require_labels=False)) == [("hello", [], None)]
    examples = read_text_examples(jsonl_path, format="jsonl", require_labels=False)
    assert [e.labels for e in examples] == [[], [], ["x"]]


@pytest.mark.parametrize(
    ("format", "content", "kwargs", "message"),
    [
        ("csv", "txt,label\na,b\n", {}, r"t\.csv:1: no column 'text' \(columns: 'txt', 'label'\); did you mean 'txt'\? set data\.text_column"),
        ("csv", "text,lable\na,b\n", {}, r"t\.csv:1: no column 'label' .*did you mean 'lable'\? set data\.label_column"),
        ("tsv", "text\tlabel\na\tb\n", {"text_pair_column": "zzz"}, r"t\.tsv:1: no column 'zzz' \(columns: 'text', 'label'\); set data\.text_pair_column"),
        ("csv", "text,label\na,x\n ,y\n", {}, r"t\.csv:3: empty text in column 'text'; remove the example or fill it in"),
        ("csv", "text,p,label\na,b,x\nc, ,y\n", {"text_pair_column": "p"}, r"t\.csv:3: empty text in column 'p'"),
        ("csv", "text,label\na,x\nb,\n", {}, r"t\.csv:3: missing label in column 'label'; every training example needs one"),
        ("csv", "text,label\na,x,y\n", {}, r"t\.csv:2: 3 fields but the header has 2; wrap fields that contain commas"),
        ("tsv", "text\tlabel\na\n", {}, r"t\.tsv:2: 1 fields but the header has 2; wrap fields that contain tabs"),
        ("csv", "text,text,label\n", {}, r"t\.csv:1: column 'text' appears twice in the header"),
        ("csv", "", {}, r"t\.csv: no header row; the first line must name the columns, e.g\. text,label"),
        ("tsv", "\n\n", {}, r"t\.tsv: no header row; .*text\tlabel"),
        ("csv", "text,label\n", {}, r"t\.csv: no examples found"),
        ("csv", "text,label\n\"" + "x" * 200_000 + '",y\n', {}, r"t\.csv:2: field larger than field limit.*check the quoting"),
        ("jsonl", "", {}, r"t\.jsonl: no examples found"),
        ("jsonl", '{"text": "a", "label": "x"}\n{"text": "b"\n', {}, r"t\.jsonl:2: invalid JSON"),
        ("jsonl", '"just a string"\n', {}, r"t\.jsonl:1: expected a JSON object, got str"),
        ("jsonl", '{"txt": "a", "label": "x"}\n', {}, r"t\.jsonl:1: no column 'text' \(columns: 'txt', 'label'\); did you mean 'txt'\?"),
        ("jsonl", '{"text": "a"}\n', {}, r"t\.jsonl:1: no column 'label' \(columns: 'text'\); set data\.label_column"),
        ("jsonl", '{"text": 5, "label": "x"}\n', {}, r"t\.jsonl:1: column 'text' must be a string, got int"),
        ("jsonl", '{"text": "", "label": "x"}\n', {}, r"t\.jsonl:1: empty text in column 'text'"),
        ("jsonl", '{"text": "a", "label": null}\n', {}, r"t\.jsonl:1: missing label in column 'label'"),
        ("jsonl", '{"text": "a", "label": ["x", "y"]}\n', {}, r"t\.jsonl:1: column 'label' holds a list, not one label; .*data\.multi_label: true"),
        ("jsonl", '{"text": "a", "label": ["x", {"y": 1}]}\n', {"multi_label": True}, r"t\.jsonl:1: column 'label' must hold labels as strings .*found \{'y': 1\}"),
        ("jsonl", '{"text": "a", "label": {"y": 1}}\n', {"multi_label": True}, r"t\.jsonl:1: column 'label' must hold labels as strings"),
    ],
)
def test_errors_name_file_and_line(
    tmp_path: Path, format: str, content: str, kwargs: dict[str, Any], message: str
) -> None:
    path = write(tmp_path / f"t.{format}", content)
    with pytest.raises(DataError, match=message):
        read_text_examples(path, format=format, **kwargs)


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"a\.xlsx: unknown format 'xlsx'; set data\.format to one of jsonl, csv, tsv"):
        read_text_examples(tmp_path / "a.xlsx", format="xlsx")


def test_missing_file_and_encoding(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"gone\.csv not found"):
        read_text_examples(tmp_path / "gone.csv", format="csv")
    path = write(tmp_path / "fr.csv", "text,label\ncafé,x\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"fr\.csv:2: byte 0xe9 cannot be decoded as utf-8; .*data\.encoding: latin-1"):
        read_text_examples(path, format="csv")
    assert read_text_examples(path, format="csv", encoding="latin-1")[0].text == "café"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.jsonl", "jsonl"), ("a.JSON", "jsonl"), ("a.csv", "csv"), ("a.tsv", "tsv")],
)
def test_detect_format_for_classification(name: str, expected: str) -> None:
    assert detect_format(name, task="sequence-classification") == expected


def test_detect_format_classification_errors() -> None:
    with pytest.raises(DataError, match=r"a\.txt: cannot tell the format from the extension '\.txt'; set data\.format to one of jsonl, csv, tsv"):
        detect_format("a.txt", task="sequence-classification")
    with pytest.raises(DataError, match=r"a\.csv: data\.format 'conll' is not a sequence-classification format"):
        detect_format("a.csv", "conll", task="sequence-classification")
    assert detect_format("a.txt", "tsv", task="sequence-classification") == "tsv"
    with pytest.raises(ValueError, match="unknown task 'tagging'"):
        detect_format("a.csv", task="tagging")


def test_read_classification_file_dispatches(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "sentence\ttags\nhello\tx,y\n")
    examples = read_classification_file(
        path, format="tsv", text_column="sentence", label_column="tags", multi_label=True, label_separator=","
    )
    assert summary(examples) == [("hello", ["x", "y"], None)]
    jsonl = write_jsonl(tmp_path / "b.jsonl", {"q": "a", "d": "b"})
    examples = read_classification_file(jsonl, text_column="q", text_pair_column="d", require_labels=False)
    assert summary(examples) == [("a", [], "b")]


TEXTS = st.text(min_size=1, max_size=30).filter(lambda t: t.strip())
LABEL = st.text(st.characters(categories=["L", "N", "P", "S"], exclude_characters="|"), min_size=1, max_size=6)


@st.composite
def rows(draw: st.DrawFn) -> tuple[bool, bool, list[TextExample]]:
    multi_label = draw(st.booleans())
    with_pair = draw(st.booleans())
    examples = []
    for _ in range(draw(st.integers(1, 5))):
        if multi_label:
            labels = draw(st.lists(LABEL, max_size=3, unique=True))
        else:
            labels = [draw(LABEL)]
        pair = draw(TEXTS) if with_pair else None
        examples.append(TextExample(draw(TEXTS), labels, pair))
    return multi_label, with_pair, examples


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows(), st.sampled_from(["csv", "tsv", "jsonl"]))
def test_written_rows_read_back(
    tmp_path: Path, drawn: tuple[bool, bool, list[TextExample]], format: str
) -> None:
    multi_label, with_pair, original = drawn
    path = tmp_path / f"rows.{format}"
    records = []
    for example in original:
        record: dict[str, Any] = {"text": example.text}
        if with_pair:
            record["pair"] = example.text_pair
        if format == "jsonl":
            record["label"] = example.labels if multi_label else example.labels[0]
        else:
            record["label"] = "|".join(example.labels)
        records.append(record)
    if format == "jsonl":
        write_jsonl(path, *records)
    else:
        with path.open("w", encoding="utf-8", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(records[0]), delimiter="," if format == "csv" else "\t")
            writer.writeheader()
            writer.writerows(records)
    read = read_text_examples(
        path, format=format, text_pair_column="pair" if with_pair else None, multi_label=multi_label
    )
    assert summary(read) == summary(original)
