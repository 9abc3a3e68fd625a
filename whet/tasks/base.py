"""The seam every task implements. Tasks are plain objects; nothing inherits from this.

Optional hooks, called only when a task defines them:

* ``prepare(tokenizer, model_config, data)``: check the pretrained model suits the task and
  complete the tokenizer (a pad token, a chat template) before anything is encoded.
* ``reduce_outputs(outputs, batch) -> np.ndarray``: per-row values that evaluation keeps
  instead of the logits (a language model's logits are too large to keep for a dev set).
* ``generation_metrics(model, tokenizer, examples, *, max_new_tokens, batch_size)``: scores of
  generated text, ``(report additions, metrics)``, computed when ``eval.generate`` is on.
* ``source_scheme`` / ``convert``: see token classification.
"""

from __future__ import annotations

from typing import Any, Protocol

from whet.config import DataConfig


class Task(Protocol):
    name: str
    auto_class: str  # the transformers Auto class that adds this task's head
    peft_task_type: str | None  # peft.TaskType name, so LoRA keeps the head trainable and saved; None: no such type

    def read(self, path: str, data: DataConfig, *, require_labels: bool = True) -> list[Any]:
        """Read one data file into examples; raise DataError on bad input."""

    def label_list(self, examples: list[Any], data: DataConfig) -> list[str]:
        """The label set, from the training examples."""

    def unknown_labels(self, examples: list[Any], labels: list[str]) -> dict[str, int]:
        """Counts of labels in (dev or test) examples that training never saw; {} when none."""

    def model_kwargs(self, labels: list[str], data: DataConfig) -> dict[str, Any]:
        """Extra ``from_pretrained`` arguments for the head (num_labels, id2label, ...)."""

    def encode(self, examples: list[Any], tokenizer: Any, labels: list[str], max_length: int, stride: int,
               data: DataConfig) -> list[dict]:
        """Tokenise examples into model inputs; long inputs become several overlapping windows.

        Each feature is a dict with "input_ids" and "example" (the index of its example); a
        feature holding several sequences (the options of a multiple-choice question) also
        gives "length", the tokens it adds to a batch.
        """

    def collate(self, features: list[dict], pad_token_id: int) -> dict[str, Any]:
        """Pad a list of features into a batch of tensors."""

    def evaluate(self, examples: list[Any], features: list[dict], logits: list[Any], labels: list[str],
                 data: DataConfig, mode: str) -> tuple[dict, dict[str, float]]:
        """Score predictions: (full report, flat metrics for early stopping and logging)."""

    def predictions(self, examples: list[Any], features: list[dict], logits: list[Any], labels: list[str],
                    data: DataConfig) -> list[dict]:
        """Decoded predictions, one JSON-ready dict per example."""

    def prediction_inputs(self, records: list[Any], data: DataConfig) -> list[Any]:
        """Examples built from raw texts or JSON records given to ``predict``."""
