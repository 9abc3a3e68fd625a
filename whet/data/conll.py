"""Read and write CoNLL-style NER files: one word per line, blank lines between sentences.

The token is the first column and the tag the last, so CoNLL-2003 files (token, POS, chunk,
tag) and two-column files both read. A line with a tab is split on tabs only, so tokens in
tab-separated files may contain spaces; other lines are split on any whitespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from whet.data.examples import TaggedSentence
from whet.data.text_files import read_text_file
from whet.data.schemes import check_tags
from whet.errors import DataError

DOCSTART = "-DOCSTART-"


def _columns(line: str) -> list[str]:
    if "\t" in line:
        return [column.strip() for column in line.split("\t") if column.strip()]
    return line.split()


def read_conll(path: str | Path, encoding: str = "utf-8") -> list[TaggedSentence]:
    """Read a CoNLL file into sentences.

    Blank or whitespace-only lines and ``-DOCSTART-`` lines separate sentences; a
    ``-DOCSTART-`` line also starts a document, so the sentences after the n-th one have
    ``document`` "n" (None before the first, and in files without such lines).

    Args:
        path: The data file.
        encoding: Python codec name (``data.encoding``).

    Returns:
        The sentences, each with ``source`` set to "path:line" of its first word.

    Raises:
        DataError: The file is missing or cannot be decoded, a line has fewer than two
            columns, a tag is malformed, or the file holds no sentences.
    """
    text = read_text_file(path, encoding)
    sentences: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    first_line = 0
    documents = 0

    def end_sentence() -> None:
        if tokens:
            source = f"{path}:{first_line}"
            document = str(documents) if documents else None
            sentences.append(TaggedSentence(list(tokens), list(tags), source=source, document=document))
            tokens.clear()
            tags.clear()

    # split("\n") rather than splitlines(): splitlines also breaks at characters such as
    # U+2028 or \x1c that may sit inside a token, which would shift every line number.
    for number, line in enumerate(text.split("\n"), start=1):
        columns = _columns(line)
        if not columns or columns[0] == DOCSTART:
            end_sentence()
            documents += bool(columns)
            continue
        where = f"{path}:{number}"
        if len(columns) < 2:
            raise DataError(
                f"{where}: expected at least 2 columns (token and tag), got 1; "
                f"separate columns with spaces or tabs"
            )
        check_tags([columns[-1]], where)
        if not tokens:
            first_line = number
        tokens.append(columns[0])
        tags.append(columns[-1])
    end_sentence()
    if not sentences:
        raise DataError(
            f"{path}: no sentences found; write one token and its tag per line, "
            f"with a blank line between sentences"
        )
    return sentences


def write_conll(sentences: Iterable[TaggedSentence], path: str | Path) -> None:
    """Write sentences as a UTF-8 CoNLL file: token TAB tag, a blank line between sentences.

    Sentences with no tokens are skipped, since a blank line is what separates sentences.

    Args:
        sentences: The sentences to write.
        path: The file to create or overwrite.

    Raises:
        DataError: A token is empty, has a tab or line break, or has surrounding whitespace,
            so it would not read back the same.
    """
    lines: list[str] = []
    for index, sentence in enumerate(sentences):
        if len(sentence.tokens) != len(sentence.tags):
            raise ValueError(
                f"sentence {sentence.source or index}: {len(sentence.tokens)} tokens but "
                f"{len(sentence.tags)} tags"
            )
        if not sentence.tokens:
            continue
        for token, tag in zip(sentence.tokens, sentence.tags):
            if not token or token != token.strip() or any(c in token for c in "\t\n\r"):
                raise DataError(
                    f"{sentence.source or f'sentence {index + 1}'}: token {token!r} cannot be "
                    f"written to CoNLL; tokens must be non-empty, without tabs, line breaks "
                    f"or surrounding whitespace"
                )
            lines.append(f"{token}\t{tag}\n")
        lines.append("\n")
    Path(path).write_text("".join(lines), encoding="utf-8", newline="\n")
