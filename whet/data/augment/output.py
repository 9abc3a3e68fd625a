"""Writing augmented training data in the format it was read from, each example with its source
("train.csv:12" for an original, "train.csv:12+aug1" for its first augmented copy), so the file
reads back as training data and every row says where it came from."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from whet.data.examples import TaggedSentence, TextExample
from whet.io.atomic import write_text_atomic

SOURCE_COLUMN = "source"


def write_tagged(sentences: Sequence[TaggedSentence], path: str | Path, format: str) -> None:
    """CoNLL: token, source and tag columns separated by tabs (the readers take the first column as
    the token and the last as the tag); JSONL: ``{"tokens", "tags", "source"}`` a line."""
    if format == "conll":
        text = "".join("".join(f"{token}\t{sentence.source}\t{tag}\n" for token, tag in zip(sentence.tokens, sentence.tags))
                       + "\n" for sentence in sentences if sentence.tokens)
    else:
        text = "".join(json.dumps({"tokens": s.tokens, "tags": s.tags, SOURCE_COLUMN: s.source}, ensure_ascii=False)
                       + "\n" for s in sentences)
    write_text_atomic(Path(path), text)


def write_texts(examples: Sequence[TextExample], path: str | Path, format: str, *, text_column: str,
                text_pair_column: str | None, label_column: str, multi_label: bool, label_separator: str) -> None:
    """JSONL, CSV or TSV with the text (and pair), label and source columns under the data settings' names."""
    def record(example: TextExample) -> dict:
        row: dict = {text_column: example.text}
        if text_pair_column:
            row[text_pair_column] = example.text_pair
        if multi_label:
            row[label_column] = example.labels if format == "jsonl" else label_separator.join(example.labels)
        else:
            row[label_column] = example.labels[0]
        row[SOURCE_COLUMN] = example.source
        return row

    rows = [record(example) for example in examples]
    if format == "jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [text_column, label_column],
                                delimiter="," if format == "csv" else "\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    write_text_atomic(Path(path), text)
