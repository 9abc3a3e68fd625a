"""Reading a run's data files into examples and labels, with the checks that need all of them."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

from whet.data.settings import DataConfig
from whet.errors import DataError

log = logging.getLogger("whet")


@dataclass
class RunData:
    train: list[Any]
    dev: list[Any]
    test: list[Any] | None
    labels: list[str]
    source_scheme: str | None = None  # NER: the tag scheme the files use
    unknown_labels: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> label -> count
    left_out: list[Any] = field(default_factory=list)  # training examples of the left-out label (out of scope)


def read_split(task: Any, path: str, data: DataConfig, setting: str, *,
               source_scheme: str | None = None) -> tuple[list[Any], str | None]:
    """Read one labelled file; NER tags are converted to the model's scheme.

    Returns the examples and the NER tag scheme of the file: ``source_scheme`` when given
    (dev and test files follow the training file), otherwise the one ``task`` detects from
    the file (``data.scheme: auto``). ``setting`` names the file in the error message.
    """
    examples = task.read(path, data, require_labels=True)
    if not examples:
        raise DataError(f"{path}: no examples found; is {setting} the right file?")
    if task.source_scheme is not None:
        source_scheme = source_scheme or task.source_scheme(examples, data)
        examples = task.convert(examples, source_scheme, data.label_scheme)
    return examples, source_scheme


def split_off_dev(train: list[Any], share: float, seed: int) -> tuple[list[Any], list[Any]]:
    """Hold out ``share`` of the training examples (at least one) as dev, reproducibly."""
    if len(train) < 2:
        raise DataError("data.train has fewer than 2 examples, too few to split off a dev set; give data.dev")
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    n_dev = min(max(1, round(len(train) * share)), len(train) - 1)
    dev_ids = set(order[:n_dev])
    return [ex for i, ex in enumerate(train) if i not in dev_ids], [ex for i, ex in enumerate(train) if i in dev_ids]


def load_run_data(task: Any, data: DataConfig, seed: int, *, split_dev: bool = True,
                  leave_out: str | None = None) -> RunData:
    """Read train/dev/test, fix the label set from train, and report labels unseen in train.

    Without ``data.dev``, ``data.dev_split`` of train is held out as dev, unless ``split_dev``
    is False (few-shot training, where every example counts): dev is then empty. Training
    examples labelled ``leave_out`` (out-of-scope texts) are kept out of train and its labels,
    in ``RunData.left_out``; a dev set split off train keeps its share of them.
    """
    if data.train is None:
        raise DataError("data.train is not set; give the training file in the config or with --set data.train=PATH")
    train, scheme = read_split(task, data.train, data, "data.train")
    dev: list[Any] = []
    if data.dev:
        dev, _ = read_split(task, data.dev, data, "data.dev", source_scheme=scheme)
    elif split_dev:
        train, dev = split_off_dev(train, data.dev_split, seed)
        log.info("no data.dev given: holding out %d of %d training examples as dev", len(dev), len(train) + len(dev))
    test = read_split(task, data.test, data, "data.test", source_scheme=scheme)[0] if data.test else None
    left_out = [ex for ex in train if leave_out in ex.labels] if leave_out is not None else []
    if left_out:
        train = [ex for ex in train if leave_out not in ex.labels]
        log.info("leaving %d training examples labelled %s out of the classes", len(left_out), leave_out)
    labels = task.label_list(train, data)
    unknown = {}
    for split, examples in (("dev", dev), ("test", test)):
        if examples:
            counts = task.unknown_labels(examples, labels)
            if counts:
                unknown[split] = counts
                listed = ", ".join(f"{label} ({n})" for label, n in sorted(counts.items()))
                log.warning("%s has labels not seen in training, counted as errors: %s", split, listed)
    return RunData(train=train, dev=dev, test=test, labels=labels, source_scheme=scheme, unknown_labels=unknown,
                   left_out=left_out)
