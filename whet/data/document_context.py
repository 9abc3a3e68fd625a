"""Document context for NER (FLERT, Schweter and Akbik 2020): each sentence is encoded with
the words of its neighbours in the same document around it; loss and predictions stay on the
sentence itself (the task's encoder marks context positions as ignored).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

from whet.data.examples import TaggedSentence

log = logging.getLogger("whet")

# Numbers the sequences of sentences context is attached within, so that only true neighbours
# share a window later: two requests to a server may both name a document "1".
_sequences = itertools.count()


def attach_document_context(sentences: Sequence[TaggedSentence], words: int, where: str = "") -> None:
    """Set each sentence's ``context`` to at most ``words`` words before and after it.

    The neighbours are the other sentences with the same ``document``, in file order; a
    sentence without a document gets no context. Words, not subwords, are counted here: the
    encoder cuts the context to its subword budget, keeping the words nearest the sentence.
    Each sentence's ``position`` says which sequence it belongs to and where.
    """
    documents: dict[str, list[TaggedSentence]] = {}
    for sentence in sentences:
        if sentence.document is not None:
            documents.setdefault(sentence.document, []).append(sentence)
    if not documents and sentences:
        log.warning("data.context is document but %s names no documents (no -DOCSTART- lines or JSONL "
                    "'document' values): its sentences are encoded without context", where or "the data")
    for members in documents.values():
        sequence = next(_sequences)
        for index, sentence in enumerate(members):
            sentence.context = (_words_before(members, index, words), _words_after(members, index, words))
            sentence.position = (sequence, index)


def document_passages(sentences: Sequence[TaggedSentence], words: int) -> list[TaggedSentence]:
    """Training examples for document context: consecutive sentences of a document joined into
    passages of at most ``words`` words (a longer sentence stays alone).

    Every sentence of a passage is labelled and sees its neighbours in the passage as context,
    so a training step encodes each word once instead of once per sentence it is context for;
    ``sentences`` counts the sentences joined, so a batch still holds ``training.batch_size``
    sentences. Sentences without a document stay alone.
    """
    passages: list[TaggedSentence] = []
    for sentence in sentences:
        last = passages[-1] if passages else None
        if (last is not None and sentence.document is not None and last.document == sentence.document
                and len(last.tokens) + len(sentence.tokens) <= words):
            last.tokens = last.tokens + sentence.tokens
            last.tags = last.tags + sentence.tags
            last.sentences += 1
        else:
            passages.append(TaggedSentence(list(sentence.tokens), list(sentence.tags), source=sentence.source,
                                           document=sentence.document))
    return passages


def _words_before(members: Sequence[TaggedSentence], index: int, limit: int) -> list[str]:
    out: list[str] = []
    for neighbour in reversed(members[:index]):
        if len(out) >= limit:
            break
        out[:0] = neighbour.tokens[-(limit - len(out)):]
    return out


def _words_after(members: Sequence[TaggedSentence], index: int, limit: int) -> list[str]:
    out: list[str] = []
    for neighbour in members[index + 1:]:
        if len(out) >= limit:
            break
        out += neighbour.tokens[:limit - len(out)]
    return out
