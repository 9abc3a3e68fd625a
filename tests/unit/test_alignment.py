"""Word-to-subword alignment and windowing of long sentences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whet.config import DataConfig
from whet.data.examples import TaggedSentence
from whet.tasks.token_classification import IGNORE, TASK, decode, tags_for_types, word_windows


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    from whet.models.pretrained import load_tokenizer

    return load_tokenizer(str(tiny_bert))


@st.composite
def word_layouts(draw):
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=60))
    starts = list(np.cumsum([0] + sizes[:-1]))
    return [int(s) for s in starts], int(sum(sizes))


@given(word_layouts(), st.integers(6, 40), st.integers(0, 12))
@settings(max_examples=300, deadline=None)
def test_windows_cover_every_subword_within_budget(layout, budget, stride):
    starts, length = layout
    windows = word_windows(starts, length, budget, stride)
    covered = set()
    for start, end in windows:
        assert 0 <= start < end <= length or (length == 0 and start == end == 0)
        assert end - start <= budget
        covered.update(range(start, end))
    assert covered == set(range(length))
    assert all(b[0] > a[0] for a, b in zip(windows, windows[1:]))  # always moves forward


def test_windows_cut_at_word_boundaries_when_words_fit():
    starts = [0, 3, 6, 9, 12, 15, 18]  # seven words of three subwords
    windows = word_windows(starts, 21, budget=8, stride=3)
    for start, end in windows:
        assert start in starts
        assert end in starts or end == 21


def test_labels_sit_on_first_subwords_only(tokenizer):
    sentence = TaggedSentence(tokens=["Xerxestown", "is", "unbelievably", "far"], tags=["B-LOC", "O", "O", "O"])
    labels = tags_for_types(["LOC"], "iob2")
    [feature] = TASK.encode([sentence], tokenizer, labels, max_length=64, stride=8, data=DataConfig())
    tokens = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    labelled = [(tok, lab) for tok, lab in zip(tokens, feature["labels"]) if lab != IGNORE]
    assert [lab for _, lab in labelled] == [labels.index("B-LOC"), 0, 0, 0]
    assert not any(tok.startswith("##") for tok, _ in labelled)
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert len(tokens) > 6  # some words really were split into several subwords


def test_long_sentence_is_windowed_and_every_word_predicted_once(tokenizer):
    words = [f"word{i}" for i in range(120)]
    sentence = TaggedSentence(tokens=words, tags=["O"] * 120)
    labels = tags_for_types(["X"], "iob2")
    features = TASK.encode([sentence], tokenizer, labels, max_length=32, stride=8, data=DataConfig())
    assert len(features) > 3
    assert all(len(f["input_ids"]) <= 32 for f in features)
    seen = {w for f in features for w in f["word_at"] if w >= 0}
    assert seen == set(range(120))
    # Logits that name the word index let us check which window each word's prediction came from.
    logits = []
    for f in features:
        rows = np.zeros((len(f["input_ids"]), len(labels)))
        positions = [p for p, w in enumerate(f["word_at"]) if w >= 0]
        for p in positions:
            rows[p, 1] = 5.0 if min(p - positions[0], positions[-1] - p) >= 2 else 0.0
        logits.append(rows)
    tags, _ = decode([sentence], features, logits, labels)
    # Words that are central in some window take that window's (confident B-X) prediction.
    interior = tags[0][2:-2]
    assert interior.count("B-X") == len(interior)


def test_word_without_subwords_is_predicted_outside(tokenizer):
    sentence = TaggedSentence(tokens=["\u200b", "Paris"], tags=[])
    labels = tags_for_types(["LOC"], "iob2")
    features = TASK.encode([sentence], tokenizer, labels, max_length=16, stride=4, data=DataConfig())
    logits = [np.full((len(f["input_ids"]), len(labels)), 0.0) for f in features]
    tags, scores = decode([sentence], features, logits, labels)
    assert len(tags[0]) == 2 and tags[0][0] == "O"
