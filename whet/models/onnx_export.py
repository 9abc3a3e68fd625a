"""ONNX export: ``whet export MODEL --onnx`` writes ``model.onnx`` (torch's exporter, with dynamic
batch and sequence axes) beside the config, tokenizer and ``whet.json``. The session that runs
the file is ``whet.models.onnx_session``.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from whet.errors import ModelError

FILE = "model.onnx"
OPSET = 18
EXPORTABLE_TASKS = ("token-classification", "sequence-classification", "question-answering", "multiple-choice")
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def check_exportable(task: str, method: str) -> None:
    from whet.models.saved_model import own_model_loader

    if task not in EXPORTABLE_TASKS:
        raise ModelError(f"ONNX export is for {', '.join(EXPORTABLE_TASKS)} models; this one is {task} "
                         f"(generation needs a decoding loop that an ONNX graph of one forward pass does not hold)")
    if own_model_loader(method):
        raise ModelError(f"this model was trained with method {method}, whose model is not a transformers model; "
                         f"ONNX export is for the other methods")


def _output_names(task: str) -> list[str]:
    return ["start_logits", "end_logits"] if task == "question-answering" else ["logits"]


def _example_inputs(model: Any, tokenizer: Any, task: str) -> dict[str, torch.Tensor]:
    """Two rows of random ids, the second padded: the traced graph keeps the attention-mask path."""
    import inspect

    accepted = inspect.signature(model.forward).parameters
    names = [n for n in INPUT_NAMES if n in accepted and n in tokenizer.model_input_names]
    shape = (2, 2, 8) if task == "multiple-choice" else (2, 8)
    generator = torch.Generator().manual_seed(0)
    inputs = {}
    for name in names:
        if name == "input_ids":
            inputs[name] = torch.randint(100, model.config.vocab_size, shape, generator=generator)
        elif name == "attention_mask":
            mask = torch.ones(shape, dtype=torch.long)
            mask[1, ..., 5:] = 0
            inputs[name] = mask
        else:
            inputs[name] = torch.zeros(shape, dtype=torch.long)
    return inputs


def export_onnx(model: Any, tokenizer: Any, task: str, path: Path) -> dict[str, Any]:
    """Write ``model`` (a plain transformers model in eval mode) to ``path`` as ONNX; what
    ``whet.json`` records of it."""
    inputs = _example_inputs(model, tokenizer, task)
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    if task == "multiple-choice":
        axes = {0: batch, 1: torch.export.Dim("choices"), 2: sequence}
    else:
        axes = {0: batch, 1: sequence}
    outputs = _output_names(task)
    model.eval()
    # The exporter and its graph optimiser log every step, and warn about operators of packages
    # that are not installed (torchvision).
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (), kwargs=inputs, dynamic_shapes={n: axes for n in inputs},
                                        input_names=list(inputs), output_names=outputs, opset_version=OPSET,
                                        dynamo=True, optimize=True)
        program.save(str(path))
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
    import onnxruntime

    return {"file": path.name, "opset": OPSET, "inputs": list(inputs), "outputs": outputs,
            "exported_with": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__}}
