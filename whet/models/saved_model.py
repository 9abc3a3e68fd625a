"""Saved model directories: Hugging Face layout plus ``whet.json``.

A full model directory (config.json with id2label/label2id, model.safetensors, tokenizer
files) loads with plain transformers. An adapter run saves only what it trained: the peft
adapter (adapter_config.json, adapter_model.safetensors) or bottleneck adapters
(bottleneck_config.json, bottleneck_model.safetensors), with the head; when merging, a
full model goes beside it under ``merged/``. ``whet.json`` holds what whet needs on top:
task, labels, label scheme, data settings and the metrics the model reached
(``whet.models.model_info``). ``README.md`` is the model card (``whet.models.model_card``).
Methods with a model class of their own (SetFit's sentence classifier, PET's pattern
classifier) save and load it themselves (``Method.load_saved``).

Loading goes one way: this module uses the model forms below it (int8, ONNX session, adapter
store, model card) and the methods and tasks; commands (export, adapters, predict) use it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from whet.errors import ModelError, WhetError
from whet.io.atomic import atomic_directory, existing_directory, write_json_atomic
from whet.methods.merging import is_adapter_model, is_peft_model
from whet.models.model_info import METADATA, ModelInfo

__all__ = ["METADATA", "ModelInfo", "is_adapter_model", "is_peft_model", "load_saved_model", "model_directory", "own_model_loader",
           "read_info", "save_model", "share_base_weights", "write_model_files"]


def save_model(path: Path, model: Any, tokenizer: Any, info: ModelInfo, *, merge: bool = False,
               export: str | None = None, source: str | None = None) -> Path:
    """Write the model directory atomically, with its model card; with ``merge``, an adapter model
    also gets ``merged/``. ``export`` and ``source`` say on the card what the model was made from
    (see ``whet.models.model_card.write_model_card``)."""
    from whet.models.model_card import card_name, write_model_card

    with atomic_directory(path) as tmp:
        write_model_files(tmp, model, tokenizer, info)
        write_model_card(tmp, info, name=card_name(path), export=export, source=source)
        if info.adapter and merge:
            import copy

            from whet.methods.merging import merge_adapter

            merged = dataclasses.replace(info)
            write_model_files(tmp / "merged", merge_adapter(copy.deepcopy(model), info.method), tokenizer, merged)
            write_model_card(tmp / "merged", merged, name=card_name(path), export="merged", source=str(path))
    return path


def write_model_files(directory: Path, model: Any, tokenizer: Any, info: ModelInfo) -> None:
    """The model (whole, or adapter and head), tokenizer and ``whet.json`` into ``directory``."""
    from whet.methods import bottleneck
    from whet.models.pretrained import quiet_transformers

    directory.mkdir(parents=True, exist_ok=True)
    info.adapter = is_adapter_model(model)
    with quiet_transformers():
        if bottleneck.is_bottleneck_model(model):
            bottleneck.save(model, directory)
        else:
            model.save_pretrained(str(directory))
        tokenizer.save_pretrained(str(directory))
        if info.adapter:
            # The base config with this model's labels, so the adapter can be rebuilt offline.
            base = model.get_base_model() if is_peft_model(model) else model
            base.config.save_pretrained(str(directory))
    write_json_atomic(directory / METADATA, info.__dict__)


def read_info(path: Path) -> ModelInfo:
    found = existing_directory(path)
    if found is None:
        raise ModelError(f"model directory {path} does not exist; give the 'model' directory of a whet run")
    meta = found / METADATA
    if not meta.is_file():
        from whet.models.adapter_store import is_adapter_store

        if is_adapter_store(found):
            raise ModelError(f"{found} holds named adapters; choose one (--adapter NAME, or adapter= in Python)")
        raise ModelError(f"{found} has no {METADATA}; it is not a model saved by whet (train one with whet train)")
    try:
        return ModelInfo(**json.loads(meta.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError) as err:  # cut short, or edited by hand
        raise ModelError(f"{meta} is not a whet model description ({err}); save or export the model again") from None


def task_labels(directory: str | Path, task: str, setting: str) -> tuple[list[str] | None, list[str]]:
    """The labels of the whet ``task`` model in ``directory``, read from its metadata without loading
    it; or None and the problem, named by the config ``setting`` that gave the directory."""
    try:
        info = read_info(Path(directory))
    except WhetError as err:
        return None, [f"{setting}: {err}"]
    if info.task != task:
        return None, [f"{setting}: {directory} is a {info.task} model; give a {task} model"]
    return list(info.labels), []


def model_directory(path: str | Path, adapter: str | None = None) -> Path:
    """The directory a model's files are in: ``path`` (the finished copy of an atomic write), or the
    adapter ``adapter`` of the store at ``path``."""
    if adapter is not None:
        from whet.models.adapter_store import adapter_directory

        return adapter_directory(Path(path), adapter)
    return existing_directory(Path(path)) or Path(path)


def load_saved_model(path: Path, adapter: str | None = None, *,
                     base_weights: dict[str, Any] | None = None) -> tuple[Any, Any, ModelInfo]:
    """(model, tokenizer, info) from a whet model directory; weights from safetensors only.

    Args:
        path: a model directory saved by whet, or an adapter store (see ``whet.models.adapter_store``).
        adapter: the name of an adapter in the store at ``path``.
        base_weights: pass the same dict to several loads of adapters on one base to keep one
            copy of the base weights: the first load fills it, later loads reuse its tensors.
    """
    import transformers

    from whet.models.pretrained import load_config, load_model, load_tokenizer, quiet_transformers
    from whet.tasks import TASKS

    found = existing_directory(path) or Path(path)  # read_info says what is missing
    base_location = None
    if adapter is not None:
        from whet.models.adapter_store import adapter_directory, base_directory

        found, base_location = adapter_directory(Path(path), adapter), str(base_directory(Path(path)))
    info = read_info(found)
    task = TASKS.get(info.task)
    auto_class = getattr(transformers, task.auto_class)
    # whet saves every model with its tokenizer.json; without it transformers builds an empty vocabulary.
    if not (found / "tokenizer.json").is_file():
        raise ModelError(f"{found} has no tokenizer.json; copy the whole model directory, or save or export it again")
    tokenizer = load_tokenizer(str(found))
    own_class = own_model_loader(info.method)
    if own_class:
        model = own_class(found, tokenizer, info.labels)
    elif info.onnx:
        from whet.models.onnx_session import load_onnx

        return load_onnx(found, info.onnx), tokenizer, info
    elif info.quantization:
        from whet.models.int8 import load_weights

        config = load_config(str(found))
        with quiet_transformers():
            skeleton = auto_class.from_config(config)
        model = load_weights(found, skeleton, info.quantization["modules"])
    elif info.adapter:
        from whet.methods import bottleneck
        from whet.methods.trainable import new_head_names

        config = load_config(str(found))
        model = load_model(auto_class, base_location or info.base_model, config=config)
        if base_weights is not None:
            share_base_weights(model, base_weights, new_head_names(model, task.peft_task_type))
        if bottleneck.is_saved_here(found):
            model = bottleneck.load(model, found)
        else:
            from peft import PeftModel

            with quiet_transformers():
                model = PeftModel.from_pretrained(model, str(found))
    else:
        model = load_model(auto_class, str(found))
    model.eval()
    return model, tokenizer, info


def own_model_loader(method: str) -> Any:
    """The loader of a method whose models are a class of its own (``Method.load_saved``), else None."""
    from whet.methods import METHODS

    return METHODS.get(method).load_saved if method in METHODS else None


def share_base_weights(model: Any, base_weights: dict[str, Any], heads: list[str]) -> None:
    """Point the pretrained parameters of ``model`` (not its new heads) at those in ``base_weights``;
    fill ``base_weights`` from this model when it is empty. Adapters never change these tensors."""
    from whet.methods.trainable import is_head_parameter

    own = {name: parameter for name, parameter in model.named_parameters(remove_duplicate=False)
           if not is_head_parameter(name, heads)}
    if not base_weights:
        base_weights.update(own)
        return
    for name, parameter in own.items():
        shared = base_weights.get(name)
        if shared is not None and shared.shape == parameter.shape and shared.dtype == parameter.dtype:
            module_name, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(module_name), leaf, shared)
