"""Token classification (NER): word tags, subword alignment, windows, entity decoding.

Alignment: each word's label sits on its first subword; other subwords get -100 so the
loss ignores them, as do the words of neighbouring sentences added as document context.
With document context, consecutive sentences of a document share one window at evaluation
and prediction, the context around the run on both sides. A sentence longer than the model's
window is split into overlapping windows cut at word boundaries; at prediction time each word
takes its label from the window where it is farthest from an edge (most context on both sides).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from whet.data.conll import read_conll
from whet.data.document_context import attach_document_context, document_passages
from whet.data.examples import TaggedSentence
from whet.data.ner_jsonl import document_id, read_ner_jsonl
from whet.data.schemes import check_tags, convert_tags, detect_scheme
from whet.data.settings import DataConfig
from whet.data.words import split_words
from whet.errors import DataError
from whet.metrics.report_parts import ReportTables
from whet.tasks.base import Task
from whet.tasks.padding import pad, pad_inputs

IGNORE = -100


def entity_types(tags: list[str]) -> list[str]:
    return [tag[2:] for tag in tags if tag != "O"]


def tags_for_types(types: list[str], scheme: str) -> list[str]:
    """All tags of ``scheme`` for the entity types, "O" first."""
    prefixes = "BIES" if scheme == "bioes" else "BI"
    return ["O"] + [f"{p}-{t}" for t in sorted(types) for p in prefixes]


def special_token_wrapping(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after one sequence ([CLS] / [SEP] for BERT)."""
    plain = tokenizer(["whet"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    full = tokenizer(["whet"], is_split_into_words=True, add_special_tokens=True)["input_ids"]
    start = next(i for i in range(len(full)) if full[i:i + len(plain)] == plain)
    return full[:start], full[start + len(plain):]


def word_windows(word_starts: list[int], length: int, budget: int, stride: int) -> list[tuple[int, int]]:
    """Subword ranges ``[start, end)`` of at most ``budget`` that cover ``range(length)``.

    Windows end on word boundaries where possible and consecutive windows share about
    ``stride`` subwords. ``word_starts`` are the subword positions where words begin.
    """
    if length <= budget:
        return [(0, length)]
    stride = min(stride, budget // 2)
    boundaries = sorted(set(word_starts) | {length})
    windows = []
    start = 0
    while True:
        end = min(start + budget, length)
        if end < length:
            # Cut before the last word that does not fit whole, unless that leaves nothing.
            cut = max((b for b in boundaries if start < b <= end), default=end)
            end = cut if cut > start else end
        windows.append((start, end))
        if end >= length:
            return windows
        # Next window starts at the first word boundary inside the overlap, and always moves on.
        starts = [b for b in boundaries if end - stride <= b < end and b > start]
        start = starts[0] if starts else end


# -- data -------------------------------------------------------------------------------------
def read_ner_file(path: str | Path, *, format: str = "auto", encoding: str = "utf-8") -> list[TaggedSentence]:
    """Read a token-classification data file in CoNLL or JSONL format.

    Args:
        path: The data file.
        format: "conll", "jsonl" or "auto" (from the extension).
        encoding: Python codec name.

    Returns:
        The sentences, in file order.
    """
    if TASK.detect_format(path, format) == "conll":
        return read_conll(path, encoding=encoding)
    return read_ner_jsonl(path, encoding=encoding)


def read(path: str, data: DataConfig, *, require_labels: bool = True) -> list[TaggedSentence]:
    sentences = read_ner_file(path, format=data.format, encoding=data.encoding)
    if data.context == "document":
        attach_document_context(sentences, data.context_tokens, where=str(path))
    return sentences


def training_examples(examples: list[TaggedSentence], data: DataConfig) -> list[TaggedSentence]:
    """With document context, training encodes passages of consecutive sentences about twice
    ``data.context_tokens`` words long, each sentence the context of the others; evaluation and
    prediction encode runs of sentences with their context on both sides (``sentence_runs``)."""
    if data.context != "document":
        return examples
    return document_passages(examples, 2 * data.context_tokens)


def source_scheme(examples: list[TaggedSentence], data: DataConfig) -> str:
    return detect_scheme(ex.tags for ex in examples) if data.scheme == "auto" else data.scheme


def convert(examples: list[TaggedSentence], source: str, target: str) -> list[TaggedSentence]:
    """Tags rewritten in the model's scheme (a no-op when the file already uses it)."""
    for ex in examples:
        check_tags(ex.tags, ex.source)
        ex.tags = convert_tags(ex.tags, source, target)
    return examples


def label_list(examples: list[TaggedSentence], data: DataConfig) -> list[str]:
    types = sorted({t for ex in examples for t in entity_types(ex.tags)})
    if not types:
        raise DataError("the training data has no entities (every tag is O); check data.train and its tag column")
    return tags_for_types(types, data.label_scheme)


def unknown_labels(examples: list[TaggedSentence], labels: list[str]) -> dict[str, int]:
    known = set(labels)
    return dict(Counter(tag for ex in examples for tag in ex.tags if tag not in known))


def model_kwargs(labels: list[str], data: DataConfig) -> dict[str, Any]:
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)}}


# -- encoding ---------------------------------------------------------------------------------
def encode(examples: list[TaggedSentence], tokenizer: Any, labels: list[str], max_length: int,
           stride: int, data: DataConfig) -> list[dict]:
    """Features of the examples: subword ids, ``word_at`` (the word whose label sits at each
    position, -1 elsewhere) and ``example``. With document context, consecutive sentences of a
    document share one window (``sentence_runs``): ``word_at`` then counts the words of
    ``examples[example]``, ``examples[example + 1]``, ... as one sequence."""
    label2id = {label: i for i, label in enumerate(labels)}
    prefix, suffix = special_token_wrapping(tokenizer)
    budget = max_length - len(prefix) - len(suffix)
    # One call tokenises all sentences in the fast tokenizer's Rust batch path.
    encoded = tokenizer([ex.tokens for ex in examples], is_split_into_words=True, add_special_tokens=False)
    ids = encoded["input_ids"]
    # word index at each word's first subword, -1 elsewhere
    firsts = []
    for index in range(len(examples)):
        word_ids = encoded.word_ids(index)
        firsts.append([w if w is not None and (p == 0 or word_ids[p - 1] != w) else -1 for p, w in enumerate(word_ids)])
    runs = sentence_runs(examples, [len(row) for row in ids], min(budget, 2 * data.context_tokens))
    before, after = context_ids(examples, tokenizer, data.context_tokens, runs)
    features = []
    for run in runs:
        head, last = run[0], run[-1]
        run_ids, first, tags, words = [], [], [], 0
        for index in run:
            run_ids += ids[index]
            first += [w + words if w >= 0 else -1 for w in firsts[index]]
            tags += examples[index].tags
            words += len(examples[index].tokens)
        starts = [p for p, w in enumerate(first) if w >= 0]
        windows = word_windows(starts, len(run_ids), budget, stride)
        left, right = fit_context(before[head], after[last], budget - len(run_ids)) if len(windows) == 1 else ([], [])
        for start, end in windows:
            # Context positions carry no word, so they get no label and no prediction.
            word_at = [-1] * (len(prefix) + len(left)) + first[start:end] + [-1] * (len(right) + len(suffix))
            feature = {"input_ids": prefix + left + run_ids[start:end] + right + suffix, "word_at": word_at,
                       "example": head}
            if examples[head].sentences > 1:
                feature["sentences"] = examples[head].sentences
            if tags:
                feature["labels"] = [label2id.get(tags[w], IGNORE) if w >= 0 else IGNORE for w in word_at]
            features.append(feature)
    return features


def sentence_runs(examples: list[TaggedSentence], lengths: list[int], budget: int) -> list[list[int]]:
    """Indices of the examples grouped into runs that share one window: sentences that follow
    each other in a document they had their context attached from (``position``), together at
    most ``budget`` subwords; any other example is a run of its own.

    Each sentence of a run still has at least its own context on both sides (the run's
    neighbours, then the context around the run), while a dev pass encodes each context word
    about twice instead of once for every sentence it surrounds.
    """
    runs: list[list[int]] = []
    total = 0
    for index, ex in enumerate(examples):
        previous = examples[runs[-1][-1]] if runs else None
        if (previous is not None and previous.position is not None
                and ex.position == (previous.position[0], previous.position[1] + 1)
                and bool(ex.tags) == bool(previous.tags) and total + lengths[index] <= budget):
            runs[-1].append(index)
            total += lengths[index]
        else:
            runs.append([index])
            total = lengths[index]
    return runs


def context_ids(examples: list[TaggedSentence], tokenizer: Any, limit: int,
                runs: list[list[int]]) -> tuple[list[list[int]], list[list[int]]]:
    """Per example, the subword ids of its context before (the last ``limit``) and after (the
    first ``limit``); empty lists for examples without context. Only the context a window shows
    is tokenised: before the first sentence of each run, after its last."""
    before: list[list[int]] = [[] for _ in examples]
    after: list[list[int]] = [[] for _ in examples]
    for side, out, ends in ((0, before, [run[0] for run in runs]), (1, after, [run[-1] for run in runs])):
        rows = [i for i in ends if examples[i].context and examples[i].context[side]]
        if not rows:
            continue
        ids = tokenizer([examples[i].context[side] for i in rows], is_split_into_words=True,
                        add_special_tokens=False)["input_ids"]
        for i, row_ids in zip(rows, ids):
            out[i] = row_ids[-limit:] if side == 0 else row_ids[:limit]
    return before, after


def fit_context(before: list[int], after: list[int], room: int) -> tuple[list[int], list[int]]:
    """The context that fits in ``room`` tokens: half each side, or what one side leaves the
    other; kept nearest the sentence."""
    room = max(room, 0)
    n_before = min(len(before), max(room // 2, room - len(after)))
    n_after = min(len(after), room - n_before)
    return before[len(before) - n_before:], after[:n_after]


def collate(features: list[dict], pad_token_id: int) -> dict[str, Any]:
    batch = pad_inputs(features, pad_token_id)
    if "labels" in features[0]:
        batch["labels"] = pad([f["labels"] for f in features], IGNORE)
    return batch


# -- decoding ---------------------------------------------------------------------------------
def word_probabilities(examples: list[TaggedSentence], features: list[dict],
                       logits: list[np.ndarray]) -> list[np.ndarray | None]:
    """Per example: (words, labels) probabilities, merged over windows; None rows for
    words that produced no subword (e.g. a lone zero-width character)."""
    best: list[dict[int, tuple[int, np.ndarray]]] = [{} for _ in examples]
    for feature, feature_logits in zip(features, logits):
        positions = [p for p, w in enumerate(feature["word_at"]) if w >= 0]
        if not positions:
            continue
        probs = _softmax(feature_logits[positions])
        first, last = positions[0], positions[-1]
        # A window's words may run on into the next examples (sentences sharing one window).
        example, offset = feature["example"], 0
        for row, p in enumerate(positions):
            word = feature["word_at"][p] - offset
            while word >= len(examples[example].tokens):
                word -= len(examples[example].tokens)
                offset += len(examples[example].tokens)
                example += 1
            centrality = min(p - first, last - p)
            chosen = best[example]
            if word not in chosen or centrality > chosen[word][0]:
                chosen[word] = (centrality, probs[row])
    out = []
    for ex, chosen in zip(examples, best):
        out.append([chosen[w][1] if w in chosen else None for w in range(len(ex.tokens))])
    return out


def decode(examples: list[TaggedSentence], features: list[dict], logits: list[np.ndarray],
           labels: list[str]) -> tuple[list[list[str]], list[list[float]]]:
    tags, scores = [], []
    for word_probs in word_probabilities(examples, features, logits):
        tags.append([labels[int(p.argmax())] if p is not None else "O" for p in word_probs])
        scores.append([float(p.max()) if p is not None else 1.0 for p in word_probs])
    return tags, scores


def evaluate(examples: list[TaggedSentence], features: list[dict], logits: list[np.ndarray],
             labels: list[str], data: DataConfig, mode: str) -> tuple[dict, dict[str, float]]:
    from whet.metrics.ner import ner_report

    predicted, _ = decode(examples, features, logits, labels)
    gold = [ex.tags for ex in examples]
    scheme = data.label_scheme if mode == "strict" else None
    entity = ner_report(gold, predicted, mode=mode, scheme=scheme)
    token = entity.pop("token")
    report = {"task": TASK.name, "entity": entity, "token": token, "mode": mode, "examples": len(examples),
              "unknown_labels": unknown_labels(examples, labels)}
    metrics = {"f1": entity["micro"]["f1"], "precision": entity["micro"]["precision"],
               "recall": entity["micro"]["recall"], "macro_f1": entity["macro"]["f1"],
               "accuracy": token["accuracy"]}
    return report, metrics


def predictions(examples: list[TaggedSentence], features: list[dict], logits: list[np.ndarray],
                labels: list[str], data: DataConfig) -> list[dict]:
    from whet.metrics.entities import entity_spans

    tags, scores = decode(examples, features, logits, labels)
    out = []
    for ex, ex_tags, ex_scores in zip(examples, tags, scores):
        entities = []
        for kind, start, end in entity_spans(ex_tags):
            entity = {"type": kind, "score": round(float(np.mean(ex_scores[start:end])), 4),
                      "token_start": start, "token_end": end}
            if ex.offsets is not None and ex.text is not None:
                entity["start"], entity["end"] = ex.offsets[start][0], ex.offsets[end - 1][1]
                entity["text"] = ex.text[entity["start"]:entity["end"]]
            else:
                entity["text"] = " ".join(ex.tokens[start:end])
            entities.append(entity)
        record: dict[str, Any] = {"id": ex.id} if ex.id is not None else {}
        record.update(text=ex.text if ex.text is not None else " ".join(ex.tokens), entities=entities,
                      tokens=ex.tokens, tags=ex_tags)
        out.append(record)
    return out


def prediction_inputs(records: list[Any], data: DataConfig) -> list[TaggedSentence]:
    """Sentences from raw texts or JSON records (``text`` or ``tokens``); records that name a
    ``document`` give each other context when the model was trained with document context."""
    examples = []
    for n, record in enumerate(records):
        where = f"input {n + 1}"
        if isinstance(record, dict) and "tokens" in record:
            tokens = record["tokens"]
            if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                raise DataError(f"{where}: 'tokens' must be a list of strings")
            example = TaggedSentence(tokens=tokens, tags=[], source=where)
        else:
            text = record.get("text") if isinstance(record, dict) else record
            if not isinstance(text, str):
                raise DataError(f"{where}: expected a string or an object with 'text' or 'tokens'")
            # Each CJK character is a word of its own (as in training data read from text), so
            # entities in Chinese text come back as character spans.
            offsets = split_words(text)
            example = TaggedSentence(tokens=[text[s:e] for s, e in offsets], tags=[], text=text,
                                     offsets=offsets, source=where)
        if isinstance(record, dict):
            example.document = document_id(record, where)
            # An input's id (a CLUENER2020 test file has one) comes back with its prediction.
            example.id = record.get("id")
        examples.append(example)
    if data.context == "document" and any(ex.document is not None for ex in examples):
        attach_document_context(examples, data.context_tokens)
    return examples


# -- report -----------------------------------------------------------------------------------
def console_tables(report: dict) -> list[Any]:
    from rich.text import Text

    from whet.metrics.report_parts import AVERAGES, fmt, score_table

    entity = report["entity"]
    parts = [score_table("Entities", "type", entity["per_type"], {f"{a} avg": entity[a] for a in AVERAGES})]
    token = report.get("token")
    if token:
        parts.append(Text(f"Tokens: accuracy {fmt(token['accuracy'])}, macro F1 {fmt(token['macro']['f1'])}, "
                          f"weighted F1 {fmt(token['weighted']['f1'])} over {token['samples']} tags"))
    return parts


def markdown_tables(report: dict) -> list[str]:
    """The entity table, and the token-level table that the terminal sums up in one line."""
    from whet.metrics.report_parts import AVERAGES, fmt, markdown_score_table

    entity = report["entity"]
    lines = ["", "## Entities", ""]
    lines += markdown_score_table("type", entity["per_type"], {f"{a} avg": entity[a] for a in AVERAGES})
    token = report.get("token")
    if token:
        lines += ["", "## Tokens", "", f"Accuracy: {fmt(token['accuracy'])} over {token['samples']} tags", ""]
        lines += markdown_score_table("tag", token["per_class"], {f"{a} avg": token[a] for a in ("macro", "weighted")})
    return lines


def report_plots(report: dict) -> list[tuple[str, bytes]]:
    from whet.metrics.report_parts import f1_bars_png

    rows = report["entity"]["per_type"]
    return [("f1_by_type", f1_bars_png(rows, "entity type"))] if rows else []


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


# CoNLL files are often tab separated, so for NER a .tsv is CoNLL (for classification it is a
# table), and a .txt is CoNLL too.
TASK = Task(
    name="token-classification", auto_class="AutoModelForTokenClassification", peft_task_type="TOKEN_CLS",
    formats=("conll", "jsonl"),
    extensions={".conll": "conll", ".txt": "conll", ".iob": "conll", ".iob2": "conll", ".bio": "conll",
                ".bioes": "conll", ".tsv": "conll", ".jsonl": "jsonl", ".json": "jsonl"},
    metrics=("f1", "precision", "recall", "macro_f1", "accuracy", "loss"), default_metric="f1",
    read=read, label_list=label_list, unknown_labels=unknown_labels, model_kwargs=model_kwargs, encode=encode,
    collate=collate, evaluate=evaluate, predictions=predictions, prediction_inputs=prediction_inputs,
    onnx_outputs=("logits",), pipeline_tag="token-classification", source_scheme=source_scheme, convert=convert,
    training_examples=training_examples,
    # Chosen on CoNLL-2003 dev with the builtin MiniLM (benchmarks/time_to_accuracy.py): at the
    # body's 5e-5 with the head alike, dev F1 was 0.846 after one epoch and 0.8875 after three;
    # at 1e-4 with the head at 1e-3 it was 0.8725 after one and 0.9012 after two.
    training_defaults={"lr": 1e-4}, head_lr_floor=1e-3,
    report_tables=ReportTables(console=console_tables, markdown=markdown_tables, plots=report_plots),
)
