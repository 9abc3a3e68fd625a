"""An onnxruntime session that prediction runs like a torch model.

``load_saved_model`` reads a directory written by ``whet export MODEL --onnx``
(``whet.models.onnx_export``) as an ``OnnxModel``, so ``whet predict``, ``whet eval``,
``whet serve`` and ``whet.load`` use it with the same pre- and post-processing as the torch
model. ONNX files are protobuf, never pickles.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from whet.errors import ModelError


class OnnxModel:
    """An onnxruntime session with the part of a torch model's interface that prediction uses:
    call it with tensors, get an object with ``logits`` (or ``start_logits``/``end_logits``)."""

    training = False

    def __init__(self, session: Any, config: Any, inputs: list[str], outputs: list[str]) -> None:
        self.session = session
        self.config = config
        self.inputs = inputs
        self.outputs = outputs

    def __call__(self, **batch: Any) -> SimpleNamespace:
        # A task that leaves token_type_ids out gets what the torch model would use: zeros.
        feeds = {name: (batch[name] if name in batch else torch.zeros_like(batch["input_ids"])).numpy()
                 for name in self.inputs}
        values = self.session.run(self.outputs, feeds)
        return SimpleNamespace(loss=None, **{name: torch.from_numpy(v) for name, v in zip(self.outputs, values)})

    def eval(self) -> OnnxModel:
        return self

    def train(self, mode: bool = True) -> OnnxModel:
        if mode:
            raise ModelError("an ONNX model cannot be trained; fine-tune the model it was exported from")
        return self

    def to(self, device: Any) -> OnnxModel:
        if torch.device(device).type != "cpu":
            raise ModelError("ONNX models run on the CPU here (onnxruntime's CPU provider)")
        return self


def load_onnx(directory: Path, record: dict[str, Any]) -> OnnxModel:
    import onnxruntime
    import transformers

    path = Path(directory) / record["file"]
    if not path.is_file():
        raise ModelError(f"{path} is missing; export the model again with whet export --onnx")
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = torch.get_num_threads()  # OMP_NUM_THREADS, as for torch models
    options.log_severity_level = 3  # errors only
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types for a corrupt file
        raise ModelError(f"{path} could not be loaded by onnxruntime ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}); export the model again") from None
    config = transformers.AutoConfig.from_pretrained(str(directory))
    return OnnxModel(session, config, record["inputs"], record["outputs"])
