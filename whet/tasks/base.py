"""The seam every task fills: a record of plain functions and facts.

A task module builds one ``Task`` and registers it in ``whet.tasks``. Its facts (formats,
metrics, ONNX outputs) are data, and task modules import torch and transformers inside the
functions that need them, so config validation and ``whet validate`` read the record
without loading either. Optional hooks are fields that default to None; code that runs a
task checks them (``if task.prepare is not None``) rather than probing the object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whet.errors import DataError
from whet.metrics.report_parts import ReportTables


# The metrics every task reports where a smaller value is better.
LOWER_IS_BETTER = ("loss", "perplexity")


@dataclass(frozen=True)
class Task:
    name: str
    auto_class: str  # the transformers Auto class that adds this task's head
    peft_task_type: str | None  # peft.TaskType name, so LoRA keeps the head trainable and saved; None: no such type
    formats: tuple[str, ...]  # the data.format values it reads
    extensions: Mapping[str, str]  # file extension (lower case) -> format, for data.format: auto
    metrics: tuple[str, ...]  # the dev metrics it reports, the choices of training.metric
    default_metric: str  # what early stopping and checkpoint selection follow unless training.metric says

    # read(path, data, *, require_labels=True) -> examples; raises DataError on bad input.
    read: Callable[..., list[Any]]
    # label_list(train examples, data) -> the label set.
    label_list: Callable[[list[Any], Any], list[str]]
    # unknown_labels(dev or test examples, labels) -> counts of labels training never saw; {} when none.
    unknown_labels: Callable[[list[Any], list[str]], dict[str, int]]
    # model_kwargs(labels, data) -> extra ``from_pretrained`` arguments for the head (num_labels, id2label, ...).
    model_kwargs: Callable[[list[str], Any], dict[str, Any]]
    # encode(examples, tokenizer, labels, max_length, stride, data) -> features. Long inputs become
    # several overlapping windows. Each feature is a dict with "input_ids" and "example" (the index
    # of its example); a feature holding several sequences (the options of a multiple-choice
    # question) also gives "length", the tokens it adds to a batch.
    encode: Callable[..., list[dict]]
    # collate(features, pad_token_id) -> a batch of tensors.
    collate: Callable[..., dict[str, Any]]
    # evaluate(examples, features, logits, labels, data, mode) -> (full report, flat metrics).
    evaluate: Callable[..., tuple[dict, dict[str, float]]]
    # predictions(examples, features, logits, labels, data) -> one JSON-ready dict per example.
    predictions: Callable[..., list[dict]]
    # prediction_inputs(records, data) -> examples from the raw texts or JSON records given to predict.
    prediction_inputs: Callable[[list[Any], Any], list[Any]]

    generates: bool = False  # its models write text (whet generate, /v1/generate) instead of predicting
    # Metrics scored on generated text: training.metric may name one only with eval.generate.
    generated_text_metrics: tuple[str, ...] = ()
    # Metrics where a smaller value is better; early stopping and the best checkpoint follow them downwards.
    lower_is_better: tuple[str, ...] = LOWER_IS_BETTER
    onnx_outputs: tuple[str, ...] = ()  # output names of an ONNX export; () when it cannot be exported
    # The axes of a batch's input_ids, dynamic in an ONNX export.
    input_axes: tuple[str, ...] = ("batch", "sequence")
    pipeline_tag: str | None = None  # the Hugging Face Hub pipeline its model cards name
    head_lr_floor: float | None = None  # the least learning rate of a new head unless training.head_lr says
    # The task's own recipe: training settings (lr, epochs, ...) used where the config sets none.
    training_defaults: Mapping[str, Any] = field(default_factory=dict)

    # prepare(tokenizer, model_config, data): check the pretrained model suits the task and complete
    # the tokenizer (a pad token, a chat template) before anything is encoded.
    prepare: Callable[[Any, Any, Any], None] | None = None
    # reduce_outputs(outputs, batch) -> np.ndarray: per-row values evaluation keeps instead of the
    # logits (a language model's logits are too large to keep for a dev set).
    reduce_outputs: Callable[[Any, dict], Any] | None = None
    # generation_metrics(model, tokenizer, examples, *, max_new_tokens, batch_size) -> (report
    # additions, metrics): scores of generated text, computed when eval.generate is on.
    generation_metrics: Callable[..., tuple[dict, dict[str, float]]] | None = None
    # source_scheme(examples, data) -> the label scheme the files use, and convert(examples, source,
    # target) -> the examples in the model's scheme; given together (NER tags).
    source_scheme: Callable[[list[Any], Any], str] | None = None
    convert: Callable[[list[Any], str, str], list[Any]] | None = None
    # training_collate(tokenizer, data, pad_token_id) -> collate function of training batches, where they are
    # made differently from evaluation ones and need the tokenizer (masked LM: masks drawn anew each batch).
    training_collate: Callable[[Any, Any, int], Callable[[list[dict]], dict[str, Any]]] | None = None
    # training_examples(examples, data) -> the training split as it is encoded for training (NER with
    # document context: runs of consecutive sentences of a document); dev and test stay as read.
    training_examples: Callable[[list[Any], Any], list[Any]] | None = None
    report_tables: ReportTables | None = None  # None: the report is flat metrics

    def detect_format(self, path: str | Path, declared: str = "auto") -> str:
        """The format of a data file: ``data.format`` (``declared``) or, for "auto", its extension.

        Raises:
            DataError: The declared format is not one of this task's, or the extension is unknown.
        """
        if declared != "auto":
            if declared not in self.formats:
                raise DataError(f"{path}: data.format {declared!r} is not a {self.name} format; use one of "
                                f"{', '.join(self.formats)} or auto")
            return declared
        extension = Path(path).suffix.lower()
        detected = self.extensions.get(extension)
        if detected is None:
            raise DataError(f"{path}: cannot tell the format from the extension {extension or '(none)'!r}; "
                            f"set data.format to one of {', '.join(self.formats)}")
        return detected
