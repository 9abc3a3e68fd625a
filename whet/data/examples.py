"""The in-memory records every reader produces and every task consumes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TaggedSentence:
    """One sentence for token classification: words and one tag per word.

    ``text`` and ``offsets`` are set when the words come from raw text (JSONL with character
    spans, or text to predict on), so predictions can be mapped back to character offsets.
    ``source`` is "file:line" for error messages. ``document`` names the document the
    sentence belongs to (a ``-DOCSTART-`` section of a CoNLL file, a JSONL ``document``
    value); ``context`` holds words of the sentences around it in that document, before and
    after, when the run encodes document context (``data.context: document``), and ``position``
    where it sits in the sequence of sentences the context was taken from: (that sequence's
    number, the sentence's index in it). ``id`` is an input's own id, kept in its prediction.
    """

    tokens: list[str]
    tags: list[str]
    source: str = ""
    text: str | None = None
    offsets: list[tuple[int, int]] | None = None
    document: str | None = None
    context: tuple[list[str], list[str]] | None = None
    position: tuple[int, int] | None = None
    sentences: int = 1  # consecutive sentences joined into this one (training with document context)
    id: str | int | None = None


@dataclass
class TextExample:
    """One example for sequence classification.

    ``labels`` holds one label for single-label data and zero or more for multi-label data.
    """

    text: str
    labels: list[str]
    text_pair: str | None = None
    source: str = ""


@dataclass
class Answer:
    """One gold answer of a question: its text and where it starts in the context (characters)."""

    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass
class QAExample:
    """One question about a context, for extractive question answering.

    ``answers`` is None for a question to predict on, empty for an unanswerable question
    (SQuAD v2.0), and otherwise lists the gold answers (training uses the first).
    """

    question: str
    context: str
    answers: list[Answer] | None
    id: str | None = None
    source: str = ""


@dataclass
class ChoiceExample:
    """One multiple-choice question: the options and the index of the right one (None to predict)."""

    question: str
    options: list[str]
    answer: int | None
    id: str | None = None
    source: str = ""


@dataclass
class LMExample:
    """One example for causal language modelling; exactly one of three kinds is set.

    ``text``: a document, trained on whole. ``prompt`` and ``response``: the loss is on the
    response only. ``messages``: a chat (``{"role", "content"}`` dicts) rendered with the
    tokenizer's chat template, the loss on the assistant turns only.
    """

    text: str | None = None
    prompt: str | None = None
    response: str | None = None
    messages: list[dict] | None = None
    source: str = ""
