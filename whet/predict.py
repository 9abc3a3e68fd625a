"""Prediction with a saved model: the Python API behind ``whet predict`` and ``whet eval``."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

from whet.errors import WhetError

log = logging.getLogger("whet")


class Predictor:
    """A loaded whet model. Build it with ``whet.load(path)``.

    ``precision``: ``auto`` (bf16 autocast where the device is fast at it, see
    ``whet.models.precision``), ``fp32`` or ``bf16``. int8 and ONNX models run their own kernels
    whatever it says; generating text (causal LMs) stays float32.

    ``owns_model``: nothing but this predictor runs ``model``, so under bf16 its Linear weights
    are cast to bf16 once, before its first prediction, instead of at every call
    (``whet.models.inference.cast_linear_weights_for_autocast``; the predictions are the same).
    ``whet.load`` sets it. The cast waits for the first prediction so that it runs on the thread
    that predicts: on a CPU, torch's OpenMP threads serve one calling thread well, and once a
    second thread has run parallel work (a server's loading thread, say), every small operation
    after it waits on thread wake-ups (a single text took 11–18 ms instead of 5–8).
    """

    def __init__(self, model: Any, tokenizer: Any, info: Any, device: torch.device | None = None,
                 precision: str = "auto", detector: Any = None, owns_model: bool = False) -> None:
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
        self._cast_weights = (owns_model and self.precision == "bf16" and not self.task.generates
                              and isinstance(model, torch.nn.Module))
        self._cast_lock = threading.Lock()
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.collate = functools.partial(self.task.collate, pad_token_id=pad_id)
        # Out-of-scope detection (whet.models.out_of_scope.Detector), when the model directory has one.
        self.detector = detector

    @classmethod
    def from_directory(cls, path: str | Path, adapter: str | None = None, *, precision: str = "auto") -> Predictor:
        from whet.models.out_of_scope import load_detector
        from whet.models.precision import check_precision
        from whet.models.saved_model import load_saved_model, model_directory

        check_precision(precision)  # before the weights load
        model, tokenizer, info = load_saved_model(Path(path), adapter)
        return cls(model, tokenizer, info, precision=precision, detector=load_detector(model_directory(path, adapter)),
                   owns_model=True)

    def _encode(self, examples: list[Any]) -> list[dict]:
        return self.task.encode(examples, tokenizer=self.tokenizer, labels=self.labels,
                                max_length=self.info.max_length, stride=self.data.stride, data=self.data)

    def _ready_model(self) -> Any:
        """The model, its Linear weights cast to bf16 on the first call where ``owns_model`` asks."""
        if self._cast_weights:
            with self._cast_lock:
                if self._cast_weights:
                    from whet.models.inference import cast_linear_weights_for_autocast

                    cast_linear_weights_for_autocast(self.model)
                    self._cast_weights = False
        return self.model

    def _logits(self, features: list[dict], batch_size: int, max_tokens: int) -> list[Any]:
        from whet.models.inference import run_model

        logits, _, _ = run_model(self._ready_model(), features, self.collate, max_sentences=batch_size,
                                 max_tokens=max_tokens, device=self.device, precision=self.precision,
                                 reduce=self.task.reduce_outputs)
        return logits

    def example_outputs(self, examples: list[Any], *, with_features: bool = False, batch_size: int = 64,
                        max_tokens: int = 16384) -> Any:
        """``whet.models.out_of_scope.ExampleOutputs`` of examples parsed by the task: per-example
        logits and, ``with_features``, first-token features (the knn and mahalanobis scorers')."""
        from whet.models.inference import run_model
        from whet.models.out_of_scope import example_outputs

        # The hidden states are asked for only when a scorer needs them: they cost a copy per layer.
        collate = (lambda batch: {**self.collate(batch), "output_hidden_states": True}) if with_features else self.collate

        def run(chosen: list[dict], reduce: Any) -> list[Any]:
            logits, _, _ = run_model(self._ready_model(), chosen, collate, max_sentences=batch_size,
                                     max_tokens=max_tokens, device=self.device, precision=self.precision, reduce=reduce)
            return logits

        return example_outputs(run, self._encode(examples), len(examples), len(self.labels), with_features)

    def _detected(self, examples: list[Any], outputs: Any) -> tuple[list[dict], Any]:
        """The task's prediction records from per-example ``outputs`` and their out-of-scope
        scores, before any text is relabelled."""
        # The logits are already one row per example: one stand-in feature each.
        records = self.task.predictions(examples, [{"example": i} for i in range(len(examples))],
                                        list(outputs.logits), self.labels, self.data)
        return records, self.detector.scores(outputs)

    def predict(self, inputs: Iterable[Any], *, batch_size: int = 64, max_tokens: int = 16384) -> list[dict]:
        """Predict for texts (str) or records (dicts with "text", "text_pair" or "tokens";
        "question" and "context" for question answering; "question" and "options" for
        multiple choice, where a string holding a JSON object also works).

        Returns one dict per input: ``{"text", "entities": [{"type", "text", "start", "end",
        "score"}, ...]}`` for NER, ``{"text", "label", "score", "probabilities"}`` for
        classification (``"labels"`` instead of ``"label"`` for multi-label models),
        ``{"question", "answer", "start", "end", "score"}`` for question answering and
        ``{"question", "answer", "option", "score", "probabilities"}`` for multiple choice
        (NER, question answering and multiple choice: with ``"id"`` first when the input has one).
        """
        examples = self.task.prediction_inputs(list(inputs), self.data)
        return self.predict_examples(examples, batch_size=batch_size, max_tokens=max_tokens)

    def predict_examples(self, examples: list[Any], *, batch_size: int = 64, max_tokens: int = 16384) -> list[dict]:
        """``predict`` for inputs already parsed by the task (``task.prediction_inputs(records, data)``).

        The server parses each request once, when it arrives, and queues the examples.
        """
        if not examples:
            return []
        if self.detector is not None:
            outputs = self.example_outputs(examples, with_features=self.detector.needs_features,
                                           batch_size=batch_size, max_tokens=max_tokens)
            return self.detector.relabel(*self._detected(examples, outputs))
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
        if self.detector is None:
            features = self._encode(examples)
            report, _ = self.task.evaluate(examples, features, self._logits(features, batch_size, max_tokens),
                                           self.labels, data, mode)
        else:
            outputs = self.example_outputs(examples, with_features=self.detector.needs_features,
                                           batch_size=batch_size, max_tokens=max_tokens)
            report, _ = self.task.evaluate(examples, [{"example": i} for i in range(len(examples))],
                                           list(outputs.logits), self.labels, data, mode)
            report["out_of_scope"] = self._out_of_scope_report(examples, outputs)
            # Texts labelled out of scope can be predicted now: as the none label, scored there.
            report["unknown_labels"].pop(self.detector.oos_label, None)
        if generate and self.task.generation_metrics is not None:
            extra, _ = self.task.generation_metrics(self.model, self.tokenizer, examples,
                                                    max_new_tokens=max_new_tokens, batch_size=batch_size)
            report.update(extra)
        report["dataset"] = str(path)
        return report

    def _out_of_scope_report(self, examples: list[Any], outputs: Any) -> dict:
        import numpy as np

        from whet.metrics.out_of_scope import out_of_scope_metrics

        records, scores = self._detected(examples, outputs)
        detector, gold = self.detector, [ex.labels[0] for ex in examples]
        predicted = [record["label"] for record in records]
        figures = out_of_scope_metrics(detector.decision_scores(scores, predicted), detector.threshold,
                                       np.array([label == detector.oos_label for label in gold]),
                                       np.array([p == g for p, g in zip(predicted, gold)]))
        return {"scorer": detector.scorer, "oos_label": detector.oos_label, "none_label": detector.none_label,
                **figures}

    def fit_out_of_scope(self, dev: list[Any], *, train: list[Any] | None = None, scorer: str = "msp",
                         oos_label: str = "oos", none_label: str = "none", target_recall: float = 0.95, k: int = 1,
                         batch_size: int = 64, max_tokens: int = 16384) -> Any:
        """Fit an out-of-scope detector on labelled examples and use it from now on.

        Args:
            dev: examples the threshold is chosen on; those labelled ``oos_label`` are out of scope.
            train: the training examples, which the knn and mahalanobis scorers keep features of.
            scorer: msp, energy, knn or mahalanobis (see ``whet.models.out_of_scope``).

        Returns:
            The ``Detector``; ``whet.models.out_of_scope.save_detector`` keeps it with the model.
        """
        from whet.models.out_of_scope import FEATURE_SCORERS, fit_detector

        if self.task.name != "sequence-classification" or self.data.multi_label:
            raise WhetError(f"out-of-scope detection needs a single-label sequence classifier; this model is "
                            f"{'multi-label ' if self.data.multi_label else ''}{self.task.name}")
        needs_features = scorer in FEATURE_SCORERS

        def outputs(examples: list[Any]) -> Any:
            return self.example_outputs(examples, with_features=needs_features, batch_size=batch_size,
                                        max_tokens=max_tokens)

        if needs_features and not train:
            raise WhetError(f"out-of-scope scorer {scorer} keeps features of the training texts; give the training data")
        self.detector = fit_detector(scorer, self.labels, outputs(dev), [ex.labels[0] for ex in dev],
                                     train=outputs(train) if needs_features else None,
                                     train_gold=[ex.labels[0] for ex in train] if needs_features else None,
                                     oos_label=oos_label, none_label=none_label, target_recall=target_recall, k=k)
        return self.detector


def read_prediction_inputs(path: Path, encoding: str = "utf-8") -> Iterator[Any]:
    """Inputs from a file, lazily: JSONL records (or strings), or plain text with one input per line."""
    from whet.data.text_files import input_records

    for _, record in input_records(path, encoding):
        yield record
