"""Augmenting NER sentences without breaking their tags (Dai and Adel, 2020, "An Analysis of
Simple Data Augmentation for Named Entity Recognition").

Mention replacement swaps an entity mention for another mention of the same type seen in
training and writes the tags again in the scheme; synonym replacement touches only words
outside entities (O); segment shuffle reorders the words inside a segment (one mention, or
a run of O words), which leaves every tag where it was. Each augmented copy applies one of
the operations, as EDA does.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from whet.data.augment.eda import Synonyms, synonym_of
from whet.data.examples import TaggedSentence
from whet.data.schemes import entity_spans, tags_from_spans

OPERATIONS = ("mention_replacement", "synonym_replacement", "segment_shuffle")

Mentions = Mapping[str, Sequence[tuple[str, ...]]]  # entity type -> its distinct mentions (words)


def mention_pool(sentences: Sequence[TaggedSentence]) -> dict[str, list[tuple[str, ...]]]:
    """Every distinct mention of each entity type, in order of first appearance."""
    pool: dict[str, dict[tuple[str, ...], None]] = {}
    for sentence in sentences:
        for entity_type, start, end in entity_spans(sentence.tags):
            pool.setdefault(entity_type, {})[tuple(sentence.tokens[start:end])] = None
    return {entity_type: list(mentions) for entity_type, mentions in pool.items()}


def replace_mentions(tokens: list[str], tags: list[str], rate: float, mentions: Mentions, scheme: str,
                     rng: random.Random) -> tuple[list[str], list[str]]:
    """Replace each mention, with probability ``rate``, by a random mention of its type; tags in ``scheme``."""
    new_tokens: list[str] = []
    spans: list[tuple[str, int, int]] = []
    done = 0
    for entity_type, start, end in entity_spans(tags):
        new_tokens += tokens[done:start]
        words = tokens[start:end]
        if rng.random() < rate and mentions.get(entity_type):
            words = list(rng.choice(mentions[entity_type]))
        spans.append((entity_type, len(new_tokens), len(new_tokens) + len(words)))
        new_tokens += words
        done = end
    new_tokens += tokens[done:]
    return new_tokens, tags_from_spans(spans, len(new_tokens), scheme)


def replace_outside_words(tokens: list[str], tags: list[str], rate: float, synonyms: Synonyms,
                          rng: random.Random) -> list[str]:
    """Replace each O word that has synonyms, with probability ``rate``, by one of them."""
    return [(synonym_of(token, synonyms, rng) or token) if tag == "O" and rng.random() < rate else token
            for token, tag in zip(tokens, tags)]


def segments(tags: list[str]) -> list[tuple[int, int]]:
    """``(start, end)`` of each mention and of each run of O words between them, in order."""
    edges: list[tuple[int, int]] = []
    done = 0
    for _, start, end in entity_spans(tags):
        if start > done:
            edges.append((done, start))
        edges.append((start, end))
        done = end
    if done < len(tags):
        edges.append((done, len(tags)))
    return edges


def shuffle_segments(tokens: list[str], tags: list[str], rate: float, rng: random.Random) -> list[str]:
    """Shuffle the words of each segment with probability ``rate``; the tags stay as they are."""
    tokens = list(tokens)
    for start, end in segments(tags):
        if end - start > 1 and rng.random() < rate:
            part = tokens[start:end]
            rng.shuffle(part)
            tokens[start:end] = part
    return tokens


def augment_sentence(sentence: TaggedSentence, rates: Mapping[str, float], mentions: Mentions,
                     synonyms: Synonyms, scheme: str, rng: random.Random, source: str) -> TaggedSentence:
    """One augmented copy of ``sentence`` by one operation with a rate above zero, chosen at random.

    Args:
        sentence: Words and tags in ``scheme``.
        rates: Operation name (one of ``OPERATIONS``) -> its rate.
        mentions: Entity type -> training mentions, for mention replacement (``mention_pool``).
        synonyms: Lowercased word -> synonyms, for O words.
        scheme: The tag scheme of ``sentence`` and of the copy.
        rng: The source of randomness.
        source: The copy's ``source`` (e.g. "train.txt:12+aug1").
    """
    tokens, tags = list(sentence.tokens), list(sentence.tags)
    chosen = [name for name in OPERATIONS if rates.get(name, 0) > 0]
    name = rng.choice(chosen) if chosen else None
    if name == "mention_replacement":
        tokens, tags = replace_mentions(tokens, tags, rates[name], mentions, scheme, rng)
    elif name == "synonym_replacement":
        tokens = replace_outside_words(tokens, tags, rates[name], synonyms, rng)
    elif name == "segment_shuffle":
        tokens = shuffle_segments(tokens, tags, rates[name], rng)
    return TaggedSentence(tokens, tags, source=source)
