"""Labelled examples for in-context prompting: the pool, and the k shown with each text.

``random`` shows the same k examples (drawn with the seed) before every text, so one
content-free calibration serves all of them. ``similar`` shows, for each text, the k
examples whose sentence embeddings are closest to it (Liu et al., 2022), the closest
last, right before the text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from whet.data.examples import TextExample
from whet.errors import DataError
from whet.zeroshot.labels import LabelsFile

SELECTIONS = ("random", "similar")


@dataclass
class Demonstrations:
    pool: list[TextExample]
    shots: int
    selection: str = "random"
    seed: int = 0
    selection_model: str = "builtin:minilm"  # the sentence encoder that ``similar`` ranks with
    # Loaded and embedded once, on the first ``similar`` choice, for every later batch of texts.
    _ranking: tuple[Any, np.ndarray] | None = field(default=None, repr=False)


def read_examples(path: str | Path, labels: LabelsFile, *, text_column: str = "text",
                  label_column: str = "label") -> list[TextExample]:
    """Labelled examples from a data file (JSONL, CSV or TSV), every label one of ``labels``."""
    from whet.tasks.sequence_classification import read_classification_file

    examples = read_classification_file(path, text_column=text_column, label_column=label_column)
    for example in examples:
        if example.labels[0] not in labels.labels:
            raise DataError(f"{example.source}: label '{example.labels[0]}' is not in {labels._source}; "
                            f"add it there or remove the example")
    return examples


def example_pool(labels: LabelsFile, examples: list[TextExample]) -> list[TextExample]:
    """The labels file's examples, then ``examples`` (from ``read_examples``)."""
    own = [TextExample(text=text, labels=[name], source=f"{labels._source}: labels.{name}.examples")
           for name, spec in labels.labels.items() for text in spec.examples]
    return own + list(examples)


def check_shots(pool: list[TextExample], k: int) -> list[TextExample]:
    """``pool``, when it holds at least ``k`` examples."""
    if k > len(pool):
        raise DataError(f"--shots {k} but only {len(pool)} labelled example(s) are available (labels file "
                        f"examples and --examples); lower --shots or add examples")
    return pool


def choose(demonstrations: Demonstrations, texts: list[str]) -> list[list[TextExample]]:
    """The demonstrations shown before each text."""
    pool, k = check_shots(demonstrations.pool, demonstrations.shots), demonstrations.shots
    if demonstrations.selection == "random":
        chosen = random.Random(demonstrations.seed).sample(pool, k)
        return [chosen] * len(texts)
    from whet.models.sentence_model import embed, load_sentence_encoder, unit_rows

    if demonstrations._ranking is None:
        encoder = load_sentence_encoder(demonstrations.selection_model)
        demonstrations._ranking = encoder, unit_rows(embed(encoder, [ex.text for ex in pool]))
    encoder, pool_vectors = demonstrations._ranking
    similarity = unit_rows(embed(encoder, texts)) @ pool_vectors.T  # (texts, pool)
    nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :k]  # (texts, k), closest first
    return [[pool[j] for j in reversed(row)] for row in nearest]
