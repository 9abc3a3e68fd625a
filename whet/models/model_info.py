"""``whet.json``: what whet records beside a model's files (task, labels, method, data settings,
metrics, and how the model was made), read by every module that loads or describes a model."""

from __future__ import annotations

from dataclasses import dataclass, field

from whet.data.settings import DataConfig

METADATA = "whet.json"


@dataclass
class ModelInfo:
    """The contents of ``whet.json``."""

    task: str
    labels: list[str]
    base_model: str
    method: str
    data: dict
    max_length: int
    source_scheme: str | None = None
    metrics: dict = field(default_factory=dict)
    adapter: bool = False
    whet_version: str = ""
    # {"scheme": ..., "modules": [...]} for a model exported with int8 weights (whet.models.int8).
    quantization: dict | None = None
    # {"file", "opset", "inputs", "outputs", ...} for a model exported to ONNX (whet.models.onnx_export).
    onnx: dict | None = None
    # How it was trained (command, config, data files, figures) for its model card (whet.models.model_card).
    training: dict | None = None

    def data_config(self) -> DataConfig:
        return DataConfig.model_validate(self.data)
