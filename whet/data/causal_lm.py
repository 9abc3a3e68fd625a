"""Reading causal language model data: plain-text documents and JSON Lines records.

Plain text (``.txt``): documents are separated by one or more blank lines, and the lines of
a document are joined with newlines; a file without blank lines is one document. Running
text with paragraphs of its own should go in JSONL ``{"text": ...}`` records instead.

JSON Lines: each object is one of

* ``{"text": "..."}``: a document, trained on whole (the key is ``data.text_column``);
* ``{"prompt": "...", "response": "..."}``: the loss is on the response only;
* ``{"messages": [{"role": "user", "content": "..."}, ...]}``: a chat rendered with the
  tokenizer's chat template, the loss on the assistant turns only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from whet.data.examples import LMExample
from whet.data.text_files import input_records, json_records, read_text_file
from whet.errors import DataError


def read_lm_examples(path: str | Path, format: str, *, encoding: str = "utf-8",
                     text_column: str = "text") -> list[LMExample]:
    """Read a causal-lm data file in ``format`` ("text" or "jsonl") into examples, in file order.

    Raises:
        DataError: A record has none of the known fields, a field has the wrong type or is
            empty, or a chat is malformed; the message names the file and line.
    """
    text = read_text_file(path, encoding)
    if format == "text":
        return text_documents(text, path)
    return [lm_record(record, where, text_column) for where, record in json_records(text, path)]


def text_documents(text: str, path: str | Path) -> list[LMExample]:
    """Documents of a plain-text file: runs of non-blank lines."""
    documents: list[LMExample] = []
    lines: list[str] = []
    start = 0
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            start = start if lines else number
            lines.append(line)
        elif lines:
            documents.append(LMExample(text="\n".join(lines), source=f"{path}:{start}"))
            lines = []
    if lines:
        documents.append(LMExample(text="\n".join(lines), source=f"{path}:{start}"))
    return documents


def _text_field(record: dict, key: str, where: str) -> str:
    value = record.get(key)
    if value is None:
        raise DataError(f"{where}: '{key}' is missing; a prompt needs its response (and a response its prompt)")
    if not isinstance(value, str):
        raise DataError(f"{where}: '{key}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise DataError(f"{where}: '{key}' is empty; remove the record or fill it in")
    return value


def check_messages(messages: Any, where: str, *, need_reply: bool = True) -> list[dict]:
    """A chat as a list of ``{"role", "content"}`` strings; with ``need_reply``, it must hold an
    assistant turn to learn from, and not begin with one."""
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: 'messages' must be a non-empty list of {{\"role\", \"content\"}} objects")
    for n, message in enumerate(messages, start=1):
        if not (isinstance(message, dict) and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)):
            raise DataError(f"{where}: message {n} must be an object with string 'role' and 'content'")
    roles = [m["role"] for m in messages]
    if need_reply:
        if "assistant" not in roles:
            raise DataError(f"{where}: the chat has no 'assistant' message, so there is nothing to learn; "
                            f"add the assistant's reply")
        if roles[0] == "assistant":
            raise DataError(f"{where}: the chat begins with an assistant message; begin with a system or user one")
        empty = [n for n, m in enumerate(messages, start=1) if m["role"] == "assistant" and not m["content"].strip()]
        if empty:
            raise DataError(f"{where}: message {empty[0]} (assistant) is empty; remove the record or fill it in")
    return messages


def lm_record(record: dict, where: str, text_column: str = "text") -> LMExample:
    """One JSON Lines record as an example; which kind is decided by the keys it has."""
    if "messages" in record:
        return LMExample(messages=check_messages(record["messages"], where), source=where)
    if "prompt" in record or "response" in record:
        return LMExample(prompt=_text_field(record, "prompt", where), response=_text_field(record, "response", where),
                         source=where)
    if text_column in record:
        return LMExample(text=_text_field(record, text_column, where), source=where)
    keys = ", ".join(repr(k) for k in record) or "none"
    raise DataError(f"{where}: expected '{text_column}' (a document), 'prompt' and 'response', or 'messages' "
                    f"(a chat); found keys: {keys}")


def prompt_of(record: Any, where: str) -> str | list[dict]:
    """The prompt of one input record for generation: a string, ``{"prompt": ...}``, or
    ``{"messages": [...]}``; a chat ending with an assistant message (a reference reply, as
    in a dev file) is cut before it, so the model writes that reply itself."""
    if isinstance(record, str):
        return record
    if isinstance(record, dict) and "messages" in record:
        messages = check_messages(record["messages"], where, need_reply=False)
        if messages[-1]["role"] == "assistant":
            messages = messages[:-1]
        if not messages:
            raise DataError(f"{where}: the chat holds only an assistant message; give the turns to reply to")
        return messages
    if isinstance(record, dict) and isinstance(record.get("prompt"), str):
        return record["prompt"]
    raise DataError(f"{where}: expected a string, an object with 'prompt' (text), or one with 'messages' (a chat)")


def read_prompts(path: Path, encoding: str = "utf-8") -> Iterator[tuple[str, dict, str | list[dict]]]:
    """``(file:line, record, prompt)`` for each input of a generation file, lazily: JSON Lines
    (strings, or objects with 'prompt' or 'messages'), or any other file with one prompt per line."""
    for where, record in input_records(path, encoding):
        yield where, record if isinstance(record, dict) else {"prompt": record}, prompt_of(record, where)
