"""ONNX export: ``whet export MODEL --onnx`` writes ``model.onnx`` (torch's exporter, with dynamic
batch and sequence axes) beside the config, tokenizer and ``whet.json``; with ``--quantize int8``
onnxruntime's dynamic quantization then gives its matrix products int8 weights (``quantize_onnx``).
The session that runs the file is ``whet.models.onnx_session``.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from whet.errors import ModelError

FILE = "model.onnx"
OPSET = 18
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


def check_exportable(task: str, method: str) -> None:
    from whet.models.saved_model import own_model_loader
    from whet.tasks import TASKS

    spec = TASKS.get(task)
    if not spec.onnx_outputs:
        exportable = [name for name in TASKS.names() if TASKS.get(name).onnx_outputs]
        why = (" (generation needs a decoding loop that an ONNX graph of one forward pass does not hold)"
               if spec.generates else "")
        raise ModelError(f"ONNX export is for {', '.join(exportable)} models; this one is {task}{why}")
    if own_model_loader(method):
        raise ModelError(f"this model was trained with method {method}, whose model is not a transformers model; "
                         f"ONNX export is for the other methods")


def _example_inputs(model: Any, tokenizer: Any, task: str) -> dict[str, torch.Tensor]:
    """Two rows of random ids, the second padded: the traced graph keeps the attention-mask path."""
    import inspect

    from whet.tasks import TASKS

    accepted = inspect.signature(model.forward).parameters
    names = [n for n in INPUT_NAMES if n in accepted and n in tokenizer.model_input_names]
    # Two rows of 8 tokens; a middle axis (multiple choice's options) gets two entries too.
    shape = tuple(8 if axis == "sequence" else 2 for axis in TASKS.get(task).input_axes)
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


@contextlib.contextmanager
def errors_only(*names: str | None) -> Iterator[None]:
    """The named loggers (None: the root logger) log errors only while the block runs."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_onnx(model: Any, tokenizer: Any, task: str, path: Path) -> dict[str, Any]:
    """Write ``model`` (a plain transformers model in eval mode) to ``path`` as ONNX; what
    ``whet.json`` records of it."""
    from whet.tasks import TASKS

    inputs = _example_inputs(model, tokenizer, task)
    axes = {i: torch.export.Dim(name) for i, name in enumerate(TASKS.get(task).input_axes)}
    outputs = list(TASKS.get(task).onnx_outputs)
    model.eval()
    # The exporter and its graph optimiser log every step, and warn about operators of packages
    # that are not installed (torchvision).
    with errors_only("torch.onnx", "onnxscript", "onnx_ir"):
        with warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (), kwargs=inputs, dynamic_shapes={n: axes for n in inputs},
                                        input_names=list(inputs), output_names=outputs, opset_version=OPSET,
                                        dynamo=True, optimize=True)
        program.save(str(path))
    import onnxruntime

    return {"file": path.name, "opset": OPSET, "inputs": list(inputs), "outputs": outputs,
            "exported_with": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__}}


INT8_SCHEME = "onnxruntime-dynamic-int8-per-channel"


def quantize_onnx(path: Path) -> dict[str, Any]:
    """Quantize the ONNX graph at ``path`` in place with onnxruntime's dynamic quantization: the
    matrix products with constant weights (the encoder's linear layers and the head) get int8
    weights with one scale per output channel, and their activations are quantized per batch
    to 8 bits. Any ONNX runtime with the standard integer operators runs the result. Returns
    what ``whet.json`` records of it."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = path.with_name(f"{path.stem}.int8{path.suffix}")
    # onnxruntime logs a suggestion to run its pre-processing through the root logger; the graph
    # comes out of torch's exporter already optimised.
    with errors_only(None):
        quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gemm"], extra_options={"MatMulConstBOnly": True})
    quantized.replace(path)
    return {"scheme": INT8_SCHEME, "onnxruntime": onnxruntime.__version__}
