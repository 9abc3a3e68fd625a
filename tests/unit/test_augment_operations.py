"""The augmentation operations on examples in memory: EDA on texts, mention replacement and
label-preserving word operations on tagged sentences."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whet.data.augment.eda import (STOP_WORDS, eda, in_case_of, random_deletion, random_insertion, random_swap,
                                   synonym_replacement)
from whet.data.augment.entities import (augment_sentence, mention_pool, replace_mentions, replace_outside_words,
                                        segments, shuffle_segments)
from whet.data.examples import TaggedSentence
from whet.data.schemes import convert_tags, entity_spans, tags_from_spans

SYNONYMS = {"card": ["wallet", "deck"], "arrived": ["came"], "lost": ["missing", "gone"], "money": ["cash"]}
WORDS = st.lists(st.sampled_from(["card", "arrived", "lost", "money", "the", "my", "never", "Card", "CARD", "?"]),
                 min_size=1, max_size=12)
ALPHA = st.floats(0.05, 1.0)
SEED = st.integers(0, 2**32)


def allowed(original: str, new: str) -> bool:
    return new == original or new.lower() in SYNONYMS.get(original.lower(), [])


@given(WORDS, ALPHA, SEED)
def test_synonym_replacement_changes_words_with_synonyms_only_and_keeps_the_length(words, alpha, seed):
    new = synonym_replacement(words, alpha, SYNONYMS, random.Random(seed))
    assert len(new) == len(words)
    assert all(allowed(old, word) for old, word in zip(words, new))
    changed = sum(old != word for old, word in zip(words, new))
    assert changed <= max(1, int(alpha * len(words)))
    if any(w.lower() in SYNONYMS for w in words):
        assert changed >= 1


def test_a_synonym_takes_the_case_of_the_word_it_replaces():
    assert in_case_of("Card", "wallet") == "Wallet"
    assert in_case_of("CARD", "wallet") == "WALLET"
    assert in_case_of("card", "wallet") == "wallet"
    assert synonym_replacement(["CARD"], 1.0, {"card": ["deck"]}, random.Random(0)) == ["DECK"]


def test_punctuation_around_a_word_stays_when_the_word_is_replaced():
    new = synonym_replacement("my card? is (Lost).".split(), 1.0, {"card": ["deck"], "lost": ["gone"]}, random.Random(0))
    assert new == ["my", "deck?", "is", "(Gone)."]


@given(WORDS, ALPHA, SEED)
def test_random_insertion_inserts_synonyms_of_the_texts_words_and_keeps_the_rest_in_order(words, alpha, seed):
    new = random_insertion(words, alpha, SYNONYMS, random.Random(seed))
    sources = {w.lower() for w in words if w.lower() in SYNONYMS and w not in STOP_WORDS}
    if not sources:
        assert new == words
        return
    assert len(new) == len(words) + max(1, int(alpha * len(words)))
    remaining = iter(new)
    assert all(word in remaining for word in words)  # the original words are a subsequence
    inserted = Counter(new) - Counter(words)
    assert all(w.lower() in {s for source in sources for s in SYNONYMS[source]} for w in inserted)


@given(WORDS, ALPHA, SEED)
def test_random_swap_keeps_the_words_and_moves_them(words, alpha, seed):
    new = random_swap(words, alpha, random.Random(seed))
    assert Counter(new) == Counter(words)


@given(WORDS, st.floats(0.0, 1.0), SEED)
def test_random_deletion_keeps_a_nonempty_subsequence(words, alpha, seed):
    new = random_deletion(words, alpha, random.Random(seed))
    assert 1 <= len(new) <= len(words)
    remaining = iter(words)
    assert all(word in remaining for word in new)


def test_random_deletion_deletes_about_alpha_of_the_words():
    words = [f"w{i}" for i in range(2000)]
    assert 0.25 < 1 - len(random_deletion(words, 0.3, random.Random(0))) / len(words) < 0.35


def test_eda_applies_one_chosen_operation_and_repeats_with_the_seed():
    text = "my card never arrived and I lost my money"
    rates = {"synonym_replacement": 0.3, "random_insertion": 0.3, "random_swap": 0.3, "random_deletion": 0.3}
    first = [eda(text, rates, SYNONYMS, random.Random(3)) for _ in range(3)]
    assert first == [eda(text, rates, SYNONYMS, random.Random(3)) for _ in range(3)]
    rng = random.Random(3)
    copies = [eda(text, rates, SYNONYMS, rng) for _ in range(20)]
    assert len(set(copies)) > 10 and sum(copy == text for copy in copies) <= 3
    assert eda(text, {"random_swap": 0.0}, SYNONYMS, rng) == text  # nothing enabled: unchanged
    swapped = eda(text, {"random_swap": 0.2}, SYNONYMS, rng)
    assert sorted(swapped.split()) == sorted(text.split()) and swapped != text


# -- NER ---------------------------------------------------------------------------------------
TRAIN = [
    TaggedSentence("EU rejects German call to boycott British lamb".split(),
                   ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O"], "train:1"),
    TaggedSentence("Peter Blackburn visited the United Nations".split(),
                   ["B-PER", "I-PER", "O", "O", "B-ORG", "I-ORG"], "train:10"),
    TaggedSentence("Ms. Jane Ann Smith lives in New York City".split(),
                   ["O", "B-PER", "I-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "I-LOC"], "train:20"),
]
POOL = mention_pool(TRAIN)

TYPES = ["PER", "LOC", "ORG"]


@st.composite
def tagged(draw, scheme="iob2"):
    """A sentence of random words with random non-overlapping entities, written in ``scheme``."""
    length = draw(st.integers(1, 12))
    words = draw(st.lists(st.sampled_from(["a", "card", "lost", "x", "money", "Paris"]), min_size=length,
                          max_size=length))
    spans, position = [], 0
    while position < length:
        if draw(st.booleans()):
            end = draw(st.integers(position + 1, min(length, position + 3)))
            spans.append((draw(st.sampled_from(TYPES)), position, end))
            position = end
        else:
            position += 1
    return words, tags_from_spans(spans, length, scheme)


def test_the_mention_pool_holds_each_types_distinct_mentions():
    assert POOL == {"ORG": [("EU",), ("United", "Nations")], "MISC": [("German",), ("British",)],
                    "PER": [("Peter", "Blackburn"), ("Jane", "Ann", "Smith")], "LOC": [("New", "York", "City")]}


@pytest.mark.parametrize("scheme", ["iob2", "bioes"])
@given(data=st.data(), rate=st.floats(0, 1), seed=SEED)
@settings(max_examples=60)
def test_mention_replacement_keeps_the_tags_valid_and_the_other_words(scheme, data, rate, seed):
    tokens, tags = data.draw(tagged(scheme))
    new_tokens, new_tags = replace_mentions(tokens, tags, rate, POOL, scheme, random.Random(seed))
    assert len(new_tokens) == len(new_tags)
    assert convert_tags(new_tags, scheme, scheme) == new_tags  # valid, written in the scheme
    old_spans, new_spans = entity_spans(tags), entity_spans(new_tags)
    assert [t for t, _, _ in new_spans] == [t for t, _, _ in old_spans]  # same entity types in order
    for (entity_type, start, end), (_, old_start, old_end) in zip(new_spans, old_spans):
        mention = tuple(new_tokens[start:end])
        assert mention == tuple(tokens[old_start:old_end]) or mention in POOL.get(entity_type, [])
    outside = [w for w, t in zip(tokens, tags) if t == "O"]
    assert [w for w, t in zip(new_tokens, new_tags) if t == "O"] == outside


def test_mention_replacement_at_rate_one_replaces_every_mention_of_a_known_type():
    tokens, tags = replace_mentions(TRAIN[1].tokens, TRAIN[1].tags, 1.0, {"PER": [("Ann",)], "ORG": [("Acme", "Corp")]},
                                    "iob2", random.Random(0))
    assert tokens == ["Ann", "visited", "the", "Acme", "Corp"]
    assert tags == ["B-PER", "O", "O", "B-ORG", "I-ORG"]


@given(data=st.data(), rate=st.floats(0, 1), seed=SEED)
def test_synonym_replacement_in_ner_touches_only_words_outside_entities(data, rate, seed):
    tokens, tags = data.draw(tagged())
    new = replace_outside_words(tokens, tags, rate, SYNONYMS, random.Random(seed))
    assert len(new) == len(tokens)
    for old, word, tag in zip(tokens, new, tags):
        assert word == old if tag != "O" else allowed(old, word)


@given(data=st.data(), rate=st.floats(0, 1), seed=SEED)
def test_segment_shuffle_permutes_words_within_each_segment_only(data, rate, seed):
    tokens, tags = data.draw(tagged())
    new = shuffle_segments(tokens, tags, rate, random.Random(seed))
    parts = segments(tags)
    assert [e for _, e in parts] == [s for s, _ in parts[1:]] + [len(tags)]  # segments tile the sentence
    for start, end in parts:
        assert Counter(new[start:end]) == Counter(tokens[start:end])


def test_segments_are_mentions_and_runs_of_outside_words():
    assert segments(TRAIN[2].tags) == [(0, 1), (1, 4), (4, 6), (6, 9)]


def test_an_augmented_sentence_names_its_source_and_repeats_with_the_seed():
    rates = {"mention_replacement": 0.5, "synonym_replacement": 0.5, "segment_shuffle": 0.5}
    copies = [augment_sentence(s, rates, POOL, SYNONYMS, "iob2", random.Random(5), s.source + "+aug1") for s in TRAIN]
    again = [augment_sentence(s, rates, POOL, SYNONYMS, "iob2", random.Random(5), s.source + "+aug1") for s in TRAIN]
    assert [(c.tokens, c.tags) for c in copies] == [(c.tokens, c.tags) for c in again]
    assert [c.source for c in copies] == ["train:1+aug1", "train:10+aug1", "train:20+aug1"]
