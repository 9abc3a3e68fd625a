"""Prediction with a saved model: the Python API behind ``whet predict`` and ``whet eval``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger("whet")


class Predictor:
    """A loaded whet model. Build it with ``whet.load(path)``.

    ``precision``: ``auto`` (bf16 autocast where the device is fast at it, see
    ``whet.models.precision``), ``fp32`` or ``bf16``. int8 and ONNX models run their own kernels
    whatever it says; generating text (causal LMs) stays float32.
    """

    def __init__(self, model: Any, tokenizer: Any, info: Any, device: torch.device | None = None,
                 precision: str = "auto") -> None:
        from whet.models.precision import check_precision, resolve_precision
        from whet.tasks import TASKS

        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.task = TASKS.get(info.task)
        self.labels = info.labels
        self.data = info.data_config()
        # int8 models run on torch's CPU kernels only, ONNX models on onnxruntime's CPU provider,
        # each as it was exported: never under autocast.
        own_kernels = "int8" if getattr(info, "quantization", None) else "ONNX" if getattr(info, "onnx", None) else None
        use_cuda = torch.cuda.is_available() and own_kernels is None
        self.device = device or torch.device("cuda" if use_cuda else "cpu")
        self.model.to(self.device)
        if own_kernels and check_precision(precision) == "bf16":
            log.info("precision bf16 does not apply to an %s model: it runs its own kernels", own_kernels)
        self.precision = "fp32" if own_kernels else resolve_precision(precision, self.device)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.collate = functools.partial(self.task.collate, pad_token_id=pad_id)

    @classmethod
    def from_directory(cls, path: str | Path, adapter: str | None = None, *, precision: str = "auto") -> Predictor:
        from whet.models.precision import check_precision
        from whet.models.saved_model import load_saved_model

        check_precision(precision)  # before the weights load
        model, tokenizer, info = load_saved_model(Path(path), adapter)
        return cls(model, tokenizer, info, precision=precision)

    def _encode(self, examples: list[Any]) -> list[dict]:
        return self.task.encode(examples, tokenizer=self.tokenizer, labels=self.labels,
                                max_length=self.info.max_length, stride=self.data.stride, data=self.data)

    def _logits(self, features: list[dict], batch_size: int, max_tokens: int) -> list[Any]:
        from whet.models.inference import run_model

        logits, _, _ = run_model(self.model, features, self.collate, max_sentences=batch_size, max_tokens=max_tokens,
                                 device=self.device, precision=self.precision, reduce=self.task.reduce_outputs)
        return logits

    def predict(self, inputs: Iterable[Any], *, batch_size: int = 64, max_tokens: int = 16384) -> list[dict]:
        """Predict for texts (str) or records (dicts with "text", "text_pair" or "tokens";
        "question" and "context" for question answering; "question" and "options" for
        multiple choice, where a string holding a JSON object also works).

        Returns one dict per input: ``{"text", "entities": [{"type", "text", "start", "end",
        "score"}, ...]}`` for NER, ``{"text", "label", "score", "probabilities"}`` for
        classification (``"labels"`` instead of ``"label"`` for multi-label models),
        ``{"question", "answer", "start", "end", "score"}`` for question answering and
        ``{"question", "answer", "option", "score", "probabilities"}`` for multiple choice
        (with ``"id"`` first when the input has one).
        """
        examples = self.task.prediction_inputs(list(inputs), self.data)
        return self.predict_examples(examples, batch_size=batch_size, max_tokens=max_tokens)

    def predict_examples(self, examples: list[Any], *, batch_size: int = 64, max_tokens: int = 16384) -> list[dict]:
        """``predict`` for inputs already parsed by the task (``task.prediction_inputs(records, data)``).

        The server parses each request once, when it arrives, and queues the examples.
        """
        if not examples:
            return []
        features = self._encode(examples)
        logits = self._logits(features, batch_size, max_tokens)
        return self.task.predictions(examples, features, logits, self.labels, self.data)

    def predict_stream(self, inputs: Iterable[Any], *, chunk_size: int = 2048, batch_size: int = 64,
                       max_tokens: int = 16384) -> Iterator[dict]:
        """Like ``predict`` over an input of any size, holding ``chunk_size`` inputs at a time.

        Each chunk is length-sorted into batches internally; results come out in input order.
        """
        chunk: list[Any] = []
        for item in inputs:
            chunk.append(item)
            if len(chunk) >= chunk_size:
                yield from self.predict(chunk, batch_size=batch_size, max_tokens=max_tokens)
                chunk = []
        if chunk:
            yield from self.predict(chunk, batch_size=batch_size, max_tokens=max_tokens)

    def evaluate(self, path: str, *, mode: str = "default", format: str | None = None,
                 encoding: str | None = None, batch_size: int = 64, max_tokens: int = 16384,
                 generate: bool = False, max_new_tokens: int = 128) -> dict:
        """The evaluation report of this model on a labelled data file.

        ``generate``: causal-lm models also reply to each prompt of the file and the replies are
        scored against the file's (exact match, ROUGE-L). The replies are generated in float32
        whatever the precision: a greedy reply follows the likeliest token at every step, and bf16's
        rounding can flip a near tie and change the rest of the reply.
        """
        from whet.data.prepare import read_split

        data = self.data.model_copy(update={k: v for k, v in (("format", format), ("encoding", encoding)) if v})
        examples, _ = read_split(self.task, path, data, "the file to evaluate")
        features = self._encode(examples)
        logits = self._logits(features, batch_size, max_tokens)
        report, _ = self.task.evaluate(examples, features, logits, self.labels, data, mode)
        if generate and self.task.generation_metrics is not None:
            extra, _ = self.task.generation_metrics(self.model, self.tokenizer, examples,
                                                    max_new_tokens=max_new_tokens, batch_size=batch_size)
            report.update(extra)
        report["dataset"] = str(path)
        return report


def read_prediction_inputs(path: Path, encoding: str = "utf-8") -> Iterator[Any]:
    """Inputs from a file, lazily: JSONL records (or strings), or plain text with one input per line."""
    from whet.data.text_files import input_records

    for _, record in input_records(path, encoding):
        yield record
