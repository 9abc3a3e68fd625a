"""Saved model directories: Hugging Face layout plus ``whet.json``.

A full model directory (config.json with id2label/label2id, model.safetensors, tokenizer
files) loads with plain transformers. A few-shot run (``method: fewshot``) saves a sentence
encoder with a linear head (see ``whet.sentence_model``), a PET run a masked LM with its
pattern (``whet.pattern_model``). A LoRA run saves the peft adapter
(adapter_config.json, adapter_model.safetensors) and, when merging, a full model beside it
under ``merged/``. ``whet.json`` holds what whet needs on top: task, labels, label
scheme, data settings and the metrics the model reached.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whet.config import DataConfig
from whet.errors import ModelError
from whet.io import atomic_directory, existing_directory, write_json_atomic

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
    # {"scheme": ..., "modules": [...]} for a model exported with int8 weights (whet.quantize).
    quantization: dict | None = None

    def data_config(self) -> DataConfig:
        return DataConfig.model_validate(self.data)


def is_peft_model(model: Any) -> bool:
    return hasattr(model, "peft_config")


def save_model(path: Path, model: Any, tokenizer: Any, info: ModelInfo, *, merge: bool = False) -> Path:
    """Write the model directory atomically; with ``merge``, a LoRA model also gets ``merged/``."""
    from whet.pretrained import quiet_transformers

    with atomic_directory(path) as tmp, quiet_transformers():
        info.adapter = is_peft_model(model)
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        if info.adapter:
            # The base config with this model's labels, so the adapter can be rebuilt offline.
            model.get_base_model().config.save_pretrained(str(tmp))
        if info.adapter and merge:
            import copy

            merged = copy.deepcopy(model).merge_and_unload()
            merged.save_pretrained(str(tmp / "merged"))
            tokenizer.save_pretrained(str(tmp / "merged"))
            write_json_atomic(tmp / "merged" / METADATA, {**info.__dict__, "adapter": False})
        write_json_atomic(tmp / METADATA, info.__dict__)
    return path


def read_info(path: Path) -> ModelInfo:
    found = existing_directory(path)
    if found is None:
        raise ModelError(f"model directory {path} does not exist; give the 'model' directory of a whet run")
    meta = found / METADATA
    if not meta.is_file():
        raise ModelError(f"{found} has no {METADATA}; it is not a model saved by whet (train one with whet train)")
    return ModelInfo(**json.loads(meta.read_text(encoding="utf-8")))


def load_saved_model(path: Path) -> tuple[Any, Any, ModelInfo]:
    """(model, tokenizer, info) from a whet model directory; weights from safetensors only."""
    import transformers

    from whet.pretrained import load_model, load_tokenizer, quiet_transformers
    from whet.tasks import TASKS

    info = read_info(path)
    found = existing_directory(path)
    task = TASKS.get(info.task)
    auto_class = getattr(transformers, task.auto_class)
    tokenizer = load_tokenizer(str(found))
    if info.method == "fewshot":
        from whet.sentence_model import load_sentence_classifier

        model = load_sentence_classifier(found)
    elif info.method == "pet":
        from whet.pattern_model import load_pattern_classifier

        model = load_pattern_classifier(found, tokenizer, info.labels)
    elif info.quantization:
        from whet.quantize import load_weights

        config = transformers.AutoConfig.from_pretrained(str(found))
        with quiet_transformers():
            skeleton = auto_class.from_config(config)
        model = load_weights(found, skeleton, info.quantization["modules"])
    elif info.adapter:
        from peft import PeftModel

        config = transformers.AutoConfig.from_pretrained(str(found))
        base = load_model(auto_class, info.base_model, config=config)
        with quiet_transformers():
            model = PeftModel.from_pretrained(base, str(found))
    else:
        model = load_model(auto_class, str(found))
    model.eval()
    return model, tokenizer, info


def export_int8(source: Path, output: Path) -> Path:
    """Write an int8 copy of a saved model (LoRA adapters merged first) for CPU inference."""
    from whet.quantize import SCHEME, quantize, save_weights

    method = read_info(source).method
    if method in ("fewshot", "pet"):
        raise ModelError(f"{source} was trained with method {method}; int8 export supports models trained "
                         f"with full, frozen, bitfit or lora")
    model, tokenizer, info = load_saved_model(source)
    if info.quantization:
        raise ModelError(f"{source} is already quantized; export from the float model directory")
    if is_peft_model(model):
        model = model.merge_and_unload()
    model, modules = quantize(model)
    info.adapter = False
    info.quantization = {"scheme": SCHEME, "modules": modules}
    with atomic_directory(output) as tmp:
        model.config.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        save_weights(tmp, model, modules)
        write_json_atomic(tmp / METADATA, info.__dict__)
    return output
