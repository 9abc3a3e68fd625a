"""``whet zeroshot``: label texts with a mode, apply the out-of-scope threshold, evaluate.

Predictions have the format of ``whet predict`` for classification (``text``, ``label``,
``score``, ``probabilities``); ``score`` is the mode's confidence, the value the threshold
applies to. When the input carries gold labels (or ``--gold`` gives them), the report is
whet's classification report.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from whet.errors import ConfigError, DataError
from whet.zeroshot.labels import LabelsFile
from whet.zeroshot.scores import Scorer, Scores
from whet.zeroshot.threshold import ThresholdChoice, decide, tune_threshold

log = logging.getLogger("whet")

TABULAR_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")


def detect_mode(model: str) -> str:
    """The mode a model suits: sentence-transformers files -> embedding, a causal LM head ->
    causal, a masked-LM head -> mlm, a classifier with an entailment class -> nli, else embedding."""
    from whet.models.pretrained import load_config, resolve_model

    if (Path(resolve_model(model)) / "modules.json").is_file():
        return "embedding"
    config = load_config(model)
    architectures = config.architectures or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return "causal"
    if any(a.endswith("ForMaskedLM") for a in architectures):
        return "mlm"
    classes = [str(label).lower() for label in (config.id2label or {}).values()]
    if any(a.endswith("ForSequenceClassification") for a in architectures) and any(
            c.startswith("entail") for c in classes):
        return "nli"
    return "embedding"


def build_scorer(labels: LabelsFile, *, model: str, mode: str = "auto", examples: str | Path | None = None,
                 shots: int = 0, selection: str = "random", selection_model: str = "builtin:minilm", seed: int = 0,
                 text_column: str = "text", label_column: str = "label") -> tuple[Scorer, str]:
    """The scorer for ``mode`` (``auto``: from the model) and the mode chosen.

    ``examples`` (a labelled file) adds examples to the labels' vectors in embedding mode and
    to the demonstration pool in causal mode, where ``shots`` demonstrations are shown before
    each text, chosen by ``selection`` (random or similar).
    """
    from whet.zeroshot import MODES
    from whet.zeroshot.demonstrations import SELECTIONS, Demonstrations, check_shots, example_pool, read_examples

    if mode == "auto":
        mode = detect_mode(model)
        log.info("mode %s (from the model %s)", mode, model)
    MODES.check(mode)
    if selection not in SELECTIONS:
        raise ConfigError(f"--selection {selection!r}: choose one of {', '.join(SELECTIONS)}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    build = MODES.get(mode)
    file_examples = []
    if examples:
        file_examples = read_examples(examples, labels, text_column=text_column, label_column=label_column)
    if mode == "embedding":
        if shots:
            raise ConfigError("--shots chooses demonstrations for mode causal; embedding mode adds every example "
                              "of --examples to its label")
        return build(model, labels, device=device, examples=file_examples), mode
    if mode == "causal":
        if file_examples and not shots:
            raise ConfigError("--examples in mode causal needs --shots: how many demonstrations each prompt shows")
        demonstrations = None
        if shots:
            demonstrations = Demonstrations(check_shots(example_pool(labels, file_examples), shots), shots, selection,
                                            seed, selection_model)
        return build(model, labels, device=device, demonstrations=demonstrations), mode
    if shots or examples:
        raise ConfigError(f"--examples and --shots work in modes embedding and causal, not {mode}")
    return build(model, labels, device=device), mode


def score_in_chunks(scorer: Scorer, texts: list[str], chunk_size: int = 256) -> Scores:
    """``scorer.score`` over chunks of texts, with a progress bar (stderr)."""
    from whet.io.progress import prediction_progress

    parts = []
    with prediction_progress(len(texts)) as progress:
        bar = progress.add_task("predict", total=len(texts))
        for start in range(0, len(texts), chunk_size):
            parts.append(scorer.score(texts[start:start + chunk_size]))
            progress.advance(bar, len(parts[-1].confidence))
    return Scores(np.concatenate([p.probabilities for p in parts]), np.concatenate([p.confidence for p in parts]))


def read_inputs(path: Path, *, text_column: str = "text", label_column: str = "label") -> tuple[list[str], list[str] | None]:
    """Texts to label, and their gold labels when every input has one.

    JSONL, CSV and TSV files are read by column; any other file is plain text, one text per line.
    """
    from whet.tasks.sequence_classification import read_classification_file

    if not path.is_file():
        raise DataError(f"input file {path} not found; check the path given to --input")
    if path.suffix.lower() not in TABULAR_SUFFIXES:
        texts = [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if not texts:
            raise DataError(f"{path}: no texts found; one text per line")
        return texts, None
    examples = read_classification_file(path, text_column=text_column, label_column=label_column,
                                        require_labels=False)
    labelled = sum(bool(ex.labels) for ex in examples)
    if 0 < labelled < len(examples):
        first = next(ex for ex in examples if not ex.labels)
        raise DataError(f"{first.source}: no '{label_column}', but {labelled} of {len(examples)} inputs have one; "
                        f"give every input a gold label (for the evaluation report) or none")
    return [ex.text for ex in examples], [ex.labels[0] for ex in examples] if labelled else None


def read_gold(path: Path, count: int) -> list[str]:
    """Gold labels, one per line (plain text) or per JSON line (a string or {"label": ...})."""
    if not path.is_file():
        raise DataError(f"gold file {path} not found; check the path given to --gold")
    gold = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        value: Any = line.strip()
        if path.suffix.lower() in (".jsonl", ".json"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{number}: invalid JSON ({err.msg}); one label per line") from None
            value = value.get("label") if isinstance(value, dict) else value
        if not isinstance(value, str) or not value.strip():
            raise DataError(f'{path}:{number}: expected a label (a line of text, a JSON string or {{"label": ...}})')
        gold.append(value.strip())
    if len(gold) != count:
        raise DataError(f"{path} has {len(gold)} labels but the input has {count} texts; give one label per text")
    return gold


def prediction_records(texts: list[str], labels: list[str], scores: Scores, decided: list[str]) -> list[dict]:
    """One ``whet predict``-style record per text."""
    return [{"text": text, "label": label, "score": round(float(confidence), 4),
             "probabilities": {name: round(float(p), 4) for name, p in zip(labels, row)}}
            for text, label, confidence, row in zip(texts, decided, scores.confidence, scores.probabilities)]


def evaluation_report(predicted: list[str], gold: list[str], labels: LabelsFile, dataset: str) -> dict:
    """whet's classification report; the none label is a class when it is predicted or gold."""
    from whet.metrics.classification import classification_report

    names = list(labels.labels)
    if labels.none_label in predicted or labels.none_label in gold:
        names.append(labels.none_label)
    unknown: dict[str, int] = {}
    for label in gold:
        if label not in names:
            unknown[label] = unknown.get(label, 0) + 1
    return {"task": "sequence-classification", "multi_label": False, "examples": len(gold), "unknown_labels": unknown,
            "classes": classification_report(gold, predicted, names), "dataset": dataset}


@dataclass
class ZeroShotRun:
    records: list[dict]
    mode: str
    report: dict | None = None
    threshold: ThresholdChoice | None = None
    seconds: float = 0.0


def run_zeroshot(labels: LabelsFile, input_path: Path, *, model: str = "builtin:minilm", mode: str = "auto",
                 gold_path: Path | None = None, threshold: float | None = None, tune_on: Path | None = None,
                 target_precision: float = 0.9, examples: Path | None = None, shots: int = 0,
                 selection: str = "random", selection_model: str = "builtin:minilm", seed: int = 0,
                 text_column: str = "text", label_column: str = "label") -> ZeroShotRun:
    """Label the texts of ``input_path``; evaluate when gold labels are known.

    The threshold is ``threshold``, else the one tuned on ``tune_on`` for
    ``target_precision``, else the labels file's ``threshold`` (none: every text gets its
    best label).
    """
    if threshold is not None and tune_on is not None:
        raise ConfigError("give --threshold or --tune-threshold, not both")
    if not 0 < target_precision <= 1:
        raise ConfigError(f"--target-precision {target_precision}: give a precision in (0, 1], e.g. 0.9")
    texts, gold = read_inputs(input_path, text_column=text_column, label_column=label_column)
    if gold_path is not None:
        gold = read_gold(gold_path, len(texts))
    scorer, mode = build_scorer(labels, model=model, mode=mode, examples=examples, shots=shots, selection=selection,
                                selection_model=selection_model, seed=seed, text_column=text_column,
                                label_column=label_column)
    names = list(labels.labels)
    choice = None
    if tune_on is not None:
        choice = tune_on_dev(scorer, names, tune_on, target_precision, text_column=text_column,
                             label_column=label_column)
        threshold = choice.threshold
    elif threshold is None:
        threshold = labels.threshold
    started = time.perf_counter()
    scores = score_in_chunks(scorer, texts)
    seconds = time.perf_counter() - started
    log.info("%s mode: %d texts scored in %.1fs", mode, len(texts), seconds)
    decided = decide(names, scores.probabilities, scores.confidence, threshold, labels.none_label)
    report = evaluation_report(decided, gold, labels, str(input_path)) if gold is not None else None
    return ZeroShotRun(prediction_records(texts, names, scores, decided), mode, report, choice, seconds)


def tune_on_dev(scorer: Scorer, names: list[str], dev: Path, target_precision: float, *, text_column: str = "text",
                label_column: str = "label") -> ThresholdChoice:
    """The threshold reaching ``target_precision`` of in-scope predictions on a labelled dev file."""
    from whet.tasks.sequence_classification import read_classification_file

    examples = read_classification_file(dev, text_column=text_column, label_column=label_column)
    scores = score_in_chunks(scorer, [ex.text for ex in examples])
    best = [names[i] for i in np.asarray(scores.probabilities).argmax(axis=1)]
    choice = tune_threshold(scores.confidence, best, [ex.labels[0] for ex in examples], target_precision)
    choice.dev = str(dev)
    if not choice.reached:
        log.warning("no threshold reaches precision %.3f on %s; using the most precise one (%.3f)",
                    target_precision, dev, choice.precision)
    return choice
