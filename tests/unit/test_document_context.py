"""Document context for NER: documents from -DOCSTART- and JSONL, neighbours' words around each
sentence, and an encoding whose context positions get no label and no prediction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from whet.config import DataConfig
from whet.data.conll import read_conll
from whet.data.document_context import attach_document_context
from whet.data.examples import TaggedSentence
from whet.data.ner_jsonl import read_ner_jsonl
from whet.errors import DataError
from whet.tasks.token_classification import IGNORE, TASK, decode, fit_context, sentence_runs, tags_for_types

CONLL = """-DOCSTART- -X- -X- O

EU B-ORG
rejects O

German B-MISC
call O

-DOCSTART- -X- -X- O

Peter B-PER
Blackburn I-PER

BRUSSELS B-LOC
"""


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    from whet.models.pretrained import load_tokenizer

    return load_tokenizer(str(tiny_bert))


def test_conll_sentences_carry_their_docstart_section(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text(CONLL)
    sentences = read_conll(path)
    assert [s.document for s in sentences] == ["1", "1", "2", "2"]
    path.write_text("EU B-ORG\n\nPeter B-PER\n")
    assert [s.document for s in read_conll(path)] == [None, None]


def test_jsonl_document_values_and_a_bad_one(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"tokens": ["EU"], "tags": ["B-ORG"], "document": 7}) + "\n"
                    + json.dumps({"text": "Peter Blackburn", "entities": [], "document": "a"}) + "\n"
                    + json.dumps({"tokens": ["x"], "tags": ["O"]}) + "\n")
    assert [s.document for s in read_ner_jsonl(path)] == ["7", "a", None]
    path.write_text(json.dumps({"tokens": ["EU"], "tags": ["B-ORG"], "document": [1]}) + "\n")
    with pytest.raises(DataError, match=r"d\.jsonl:1: 'document' must be a string"):
        read_ner_jsonl(path)


def test_context_is_the_nearest_words_of_the_same_document_only():
    sentences = [TaggedSentence(["a1", "a2"], ["O", "O"], document="A"),
                 TaggedSentence(["b1"], ["O"], document="B"),
                 TaggedSentence(["a3", "a4", "a5"], ["O"] * 3, document="A"),
                 TaggedSentence(["a6"], ["O"], document="A"),
                 TaggedSentence(["n"], ["O"])]
    attach_document_context(sentences, words=2)
    assert sentences[0].context == ([], ["a3", "a4"])
    assert sentences[1].context == ([], [])
    assert sentences[2].context == (["a1", "a2"], ["a6"])
    assert sentences[3].context == (["a4", "a5"], [])
    assert sentences[4].context is None


def test_read_attaches_context_only_when_asked(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text(CONLL)
    plain = TASK.read(str(path), DataConfig(format="conll"))
    assert all(s.context is None for s in plain)
    with_context = TASK.read(str(path), DataConfig(format="conll", context="document"))
    assert with_context[0].context == ([], ["German", "call"])
    assert with_context[3].context == (["Peter", "Blackburn"], [])


def test_context_budget_is_split_and_kept_nearest_the_sentence():
    before, after = list(range(10)), list(range(100, 110))
    assert fit_context(before, after, 6) == ([7, 8, 9], [100, 101, 102])
    assert fit_context(before, [100], 6) == ([5, 6, 7, 8, 9], [100])
    assert fit_context([1], after, 6) == ([1], [100, 101, 102, 103, 104])
    assert fit_context(before, after, 0) == ([], [])
    assert fit_context(before, after, -3) == ([], [])


def test_encoding_puts_context_around_the_sentence_without_labels(tokenizer):
    labels = tags_for_types(["ORG", "PER"], "iob2")
    sentence = TaggedSentence(["Peter", "Blackburn"], ["B-PER", "I-PER"],
                              context=(["the", "EU", "said"], ["in", "Brussels"]))
    plain = TaggedSentence(["Peter", "Blackburn"], ["B-PER", "I-PER"])
    data = DataConfig(context="document")
    with_ctx, = TASK.encode([sentence], tokenizer, labels, 64, 0, data)
    without, = TASK.encode([plain], tokenizer, labels, 64, 0, data)
    ids_of = lambda words: tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    left, right = ids_of(["the", "EU", "said"]), ids_of(["in", "Brussels"])
    inner = without["input_ids"][1:-1]
    assert with_ctx["input_ids"] == [without["input_ids"][0], *left, *inner, *right, without["input_ids"][-1]]
    # the sentence's labels and word positions, shifted by the left context; nothing on the context
    shift = len(left)
    assert [w for w in with_ctx["word_at"] if w >= 0] == [w for w in without["word_at"] if w >= 0]
    assert with_ctx["labels"][1 + shift:1 + shift + len(inner)] == without["labels"][1:-1]
    labelled = [p for p, label in enumerate(with_ctx["labels"]) if label != IGNORE]
    assert all(1 + shift <= p < 1 + shift + len(inner) for p in labelled)
    # predictions read the sentence's positions only: context logits cannot change them
    logits = np.zeros((len(with_ctx["input_ids"]), len(labels)), dtype=np.float32)
    logits[:, labels.index("B-ORG")] = 5.0
    for p, w in enumerate(with_ctx["word_at"]):
        if w >= 0:
            logits[p] = 0.0
            logits[p, labels.index("B-PER" if w == 0 else "I-PER")] = 5.0
    tags, _ = decode([sentence], [with_ctx], [logits], labels)
    assert tags == [["B-PER", "I-PER"]]


def test_context_is_cut_to_the_window(tokenizer):
    labels = tags_for_types(["PER"], "iob2")
    long_context = (["word"] * 200, ["word"] * 200)
    sentence = TaggedSentence(["Peter"], ["B-PER"], context=long_context)
    plain, = TASK.encode([TaggedSentence(["Peter"], ["B-PER"])], tokenizer, labels, 32, 0, DataConfig())
    feature, = TASK.encode([sentence], tokenizer, labels, 32, 0, DataConfig(context="document", context_tokens=8))
    assert len(feature["input_ids"]) == len(plain["input_ids"]) + 8 + 8
    assert sum(w >= 0 for w in feature["word_at"]) == 1
    feature, = TASK.encode([sentence], tokenizer, labels, 16, 0, DataConfig(context="document", context_tokens=64))
    assert len(feature["input_ids"]) == 16


def document_sentences() -> list[TaggedSentence]:
    sentences = [TaggedSentence(["EU", "rejects", "it"], ["B-ORG", "O", "O"], document="a"),
                 TaggedSentence(["Peter", "Blackburn"], ["B-PER", "I-PER"], document="a"),
                 TaggedSentence(["in", "Brussels"], ["O", "B-LOC"], document="a"),
                 TaggedSentence(["Germany", "said"], ["B-LOC", "O"], document="b"),
                 TaggedSentence(["no", "document"], ["O", "O"])]
    attach_document_context(sentences, words=64)
    return sentences


def test_runs_join_consecutive_sentences_of_a_document_within_the_budget():
    sentences = document_sentences()
    assert sentence_runs(sentences, [3, 2, 2, 2, 2], budget=100) == [[0, 1, 2], [3], [4]]
    assert sentence_runs(sentences, [3, 2, 2, 2, 2], budget=5) == [[0, 1], [2], [3], [4]]
    assert sentence_runs(sentences, [9, 2, 2, 2, 2], budget=5) == [[0], [1, 2], [3], [4]]
    plain = [TaggedSentence(s.tokens, s.tags, document=s.document) for s in sentences]  # no context attached
    assert sentence_runs(plain, [3, 2, 2, 2, 2], budget=100) == [[i] for i in range(5)]


def test_sentences_of_a_run_share_a_window_and_keep_their_own_context(tokenizer):
    labels = tags_for_types(["LOC", "ORG", "PER"], "iob2")
    sentences = document_sentences()
    data = DataConfig(context="document", context_tokens=64)
    features = TASK.encode(sentences, tokenizer, labels, 128, 0, data)
    assert [f["example"] for f in features] == [0, 3, 4]
    ids_of = lambda words: tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    run = features[0]
    words = [w for s in sentences[:3] for w in s.tokens]
    assert run["input_ids"][1:-1] == ids_of(words)  # the run is the whole document: no context outside it
    assert [label for label in run["labels"] if label != IGNORE] == [labels.index(t) for s in sentences[:3] for t in s.tags]
    alone = [TASK.encode([s], tokenizer, labels, 128, 0, data)[0] for s in sentences]
    for index in range(3):
        # each sentence sees at least the context it has when encoded alone, on both sides
        text = alone[index]["input_ids"][1:-1]
        assert any(run["input_ids"][k:k + len(text)] == text for k in range(len(run["input_ids"])))
    # decoding maps the run's words back to their sentences
    logits = np.zeros((len(run["input_ids"]), len(labels)), dtype=np.float32)
    gold = [t for s in sentences[:3] for t in s.tags]
    for p, w in enumerate(run["word_at"]):
        if w >= 0:
            logits[p, labels.index(gold[w])] = 5.0
    others = [np.zeros((len(f["input_ids"]), len(labels)), dtype=np.float32) for f in features[1:]]
    tags, _ = decode(sentences, features, [logits, *others], labels)
    assert tags[:3] == [s.tags for s in sentences[:3]]
    assert tags[3:] == [["O", "O"], ["O", "O"]]


def test_sentences_of_two_requests_naming_one_document_never_share_a_window(tokenizer):
    # A server batches the examples of several requests: each request's context stays its own.
    labels = tags_for_types(["PER"], "iob2")
    data = DataConfig(context="document")
    first = TASK.prediction_inputs([{"text": "Peter said", "document": "1"}, {"text": "it rained", "document": "1"}], data)
    second = TASK.prediction_inputs([{"text": "Mary left", "document": "1"}, {"text": "then", "document": "1"}], data)
    batch = first + second
    assert sentence_runs(batch, [3] * 4, budget=100) == [[0, 1], [2, 3]]
    features = TASK.encode(batch, tokenizer, labels, 128, 0, data)
    ids_of = lambda words: tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    assert [f["input_ids"][1:-1] for f in features] == [ids_of(["Peter", "said", "it", "rained"]),
                                                       ids_of(["Mary", "left", "then"])]


def test_a_run_cut_by_the_budget_gets_the_documents_context_around_it(tokenizer):
    labels = tags_for_types(["LOC", "ORG", "PER"], "iob2")
    sentences = document_sentences()
    ids_of = lambda words: tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]
    lengths = [len(ids_of(s.tokens)) for s in sentences]
    # context_tokens sets the run budget (twice it): here the first two sentences, not the third
    data = DataConfig(context="document", context_tokens=(lengths[0] + lengths[1] + 1) // 2)
    features = TASK.encode(sentences, tokenizer, labels, 128, 0, data)
    assert [f["example"] for f in features][:2] == [0, 2]
    second = features[1]
    assert sum(w >= 0 for w in second["word_at"]) == 2  # "in Brussels" labelled, its context not
    before = ids_of(["EU", "rejects", "it", "Peter", "Blackburn"])[-data.context_tokens:]
    assert second["input_ids"][1:1 + len(before)] == before


def test_prediction_records_of_one_document_share_context():
    data = DataConfig(context="document")
    examples = TASK.prediction_inputs([{"text": "EU rejects it", "document": "d"},
                                       {"tokens": ["Peter", "Blackburn"], "document": "d"},
                                       "no document here"], data)
    assert examples[0].context == ([], ["Peter", "Blackburn"])
    assert examples[1].context == (["EU", "rejects", "it"], [])
    assert examples[2].context is None
    assert TASK.prediction_inputs([{"text": "EU", "document": "d"}], DataConfig())[0].context is None


def test_training_passages_join_consecutive_sentences_of_a_document_within_the_budget():
    from whet.data.document_context import document_passages

    sentences = [TaggedSentence(["a1", "a2"], ["B-X", "I-X"], document="A", source="f:1"),
                 TaggedSentence(["a3"], ["O"], document="A"),
                 TaggedSentence(["a4", "a5"], ["B-X", "O"], document="A"),
                 TaggedSentence(["b1"], ["O"], document="B"),
                 TaggedSentence(["n1"], ["O"]), TaggedSentence(["n2"], ["O"])]
    passages = document_passages(sentences, words=3)
    assert [(p.tokens, p.tags, p.sentences) for p in passages] == [
        (["a1", "a2", "a3"], ["B-X", "I-X", "O"], 2), (["a4", "a5"], ["B-X", "O"], 1),
        (["b1"], ["O"], 1), (["n1"], ["O"], 1), (["n2"], ["O"], 1)]
    assert passages[0].source == "f:1" and sentences[0].tokens == ["a1", "a2"]  # the sentences are untouched
    # each word is in exactly one passage, in order
    assert [w for p in passages for w in p.tokens] == [w for s in sentences for w in s.tokens]


def test_training_examples_are_passages_only_with_document_context(tmp_path):
    path = tmp_path / "d.conll"
    path.write_text(CONLL)
    data = DataConfig(format="conll", context="document")
    passages = TASK.training_examples(TASK.read(str(path), data), data)
    assert [p.tokens for p in passages] == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn", "BRUSSELS"]]
    sentences = TASK.read(str(path), DataConfig(format="conll"))
    assert TASK.training_examples(sentences, DataConfig(format="conll")) is sentences


def test_a_batch_counts_the_sentences_of_its_passages(tokenizer):
    from whet.data.token_batches import length_grouped_batches

    labels = tags_for_types(["ORG"], "iob2")
    passage = TaggedSentence(["EU", "rejects", "German", "call"], ["B-ORG", "O", "O", "O"], sentences=3)
    feature, = TASK.encode([passage], tokenizer, labels, 64, 0, DataConfig())
    assert feature["sentences"] == 3
    batches = length_grouped_batches([5] * 6, 4, 10_000, shuffle=False, sentences=[3, 1, 1, 3, 2, 2])
    assert [sum([3, 1, 1, 3, 2, 2][i] for i in b) for b in batches] == [4, 4, 4]
    assert length_grouped_batches([5] * 3, 2, 10_000, shuffle=False, sentences=[5, 1, 1]) == [[0], [1, 2]]


def test_the_sampler_counts_the_sentences_of_each_batch():
    from whet.data.token_batches import TokenBudgetBatchSampler

    counts = [3, 1, 1, 3, 2, 2]
    sampler = TokenBudgetBatchSampler([5] * 6, 4, 10_000, shuffle=True, seed=1, sentences=counts)
    assert [sampler.sentences_in(i) for i in range(len(sampler))] == [
        sum(counts[j] for j in batch) for batch in sampler.epoch_batches]
    assert sum(sampler.sentences_in(i) for i in range(len(sampler))) == sum(counts)
    plain = TokenBudgetBatchSampler([5] * 6, 4, 10_000, shuffle=False)
    assert [plain.sentences_in(i) for i in range(len(plain))] == [4, 2]
