"""``whet export``: load a saved model, transform it, write a new model directory.

Each option is one step applied in turn to the loaded model (``merge``, then ``quantize`` or
``onnx``, or both: an int8 ONNX graph), so options compose: quantisation and ONNX export take
the merged model. Without
options the model is written as loaded, which turns a named adapter of a store into a
standalone directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from whet.errors import ModelError


def export_model(source: Path, output: Path, *, merge: bool = False, adapter: str | None = None,
                 quantize: str | None = None, onnx: bool = False) -> Path:
    """Write ``source`` (or its named ``adapter``) to a new directory ``output``, merged and/or
    quantized (``quantize="int8"``) or exported to ONNX (``onnx``) if asked, or both (an ONNX graph
    whose matrix products onnxruntime quantized to int8); quantizing and ONNX export merge an
    adapter first.

    Example:
        >>> export_model(Path("runs/intents-lora/model"), Path("dist/intents"), merge=True)
    """
    from whet.io.atomic import existing_directory
    from whet.methods.merging import check_mergeable, merge_adapter
    from whet.models.out_of_scope import copy_detector
    from whet.models.saved_model import load_saved_model, model_directory, read_info, save_model

    if existing_directory(output) is not None:
        raise ModelError(f"{output} already exists; choose a new --output directory or remove it first")
    # Answered from whet.json, before any weights load.
    if adapter is not None:
        from whet.models.adapter_store import adapter_directory

        info = read_info(adapter_directory(Path(source), adapter))
    else:
        info = read_info(Path(source))
    if info.quantization or info.onnx:
        kind = "quantized" if info.quantization else "an ONNX export"
        raise ModelError(f"{source} is already {kind}; export from the float model directory")
    if onnx:
        from whet.models.onnx_export import check_exportable

        check_exportable(info.task, info.method)
    if quantize and not onnx:
        from whet.models.saved_model import own_model_loader

        if own_model_loader(info.method):
            raise ModelError(f"{source} was trained with method {info.method}, whose model is not a transformers "
                             f"model; int8 export is for the other methods")
    merge = merge or bool((quantize or onnx) and info.adapter)
    if merge:
        check_mergeable(info.method, info.adapter)
    model, tokenizer, info = load_saved_model(source, adapter)
    if merge:
        model = merge_adapter(model, info.method)
    origin = f"{source} (adapter {adapter})" if adapter else str(source)
    if onnx:
        save_onnx(output, model, tokenizer, info, source=origin, quantize=quantize)
    elif quantize:
        save_int8(output, model, tokenizer, info, source=origin)
    else:
        save_model(output, model, tokenizer, info, export="merged" if merge else None, source=origin)
    # Out-of-scope detection travels with the model (whet.models.out_of_scope).
    copy_detector(model_directory(source, adapter), output, onnx=onnx, int8=bool(quantize))
    return output


def save_int8(output: Path, model: Any, tokenizer: Any, info: Any, *, source: str | None = None) -> Path:
    """Quantize a full model's linear layers to int8 and write it (see whet.models.int8) with a model
    card naming ``source``, the directory it came from."""
    from whet.io.atomic import atomic_directory, write_json_atomic
    from whet.models.model_card import card_name, write_model_card
    from whet.models.int8 import SCHEME, quantize, save_weights
    from whet.models.model_info import METADATA

    model, modules = quantize(model)
    info.adapter = False
    info.quantization = {"scheme": SCHEME, "modules": modules}
    with atomic_directory(output) as tmp:
        model.config.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        save_weights(tmp, model, modules)
        write_json_atomic(tmp / METADATA, info.__dict__)
        write_model_card(tmp, info, name=card_name(output), export="int8", source=source)
    return output


def save_onnx(output: Path, model: Any, tokenizer: Any, info: Any, *, source: str | None = None,
              quantize: str | None = None) -> Path:
    """Export a full model to ONNX (its matrix products quantized to int8 by onnxruntime with
    ``quantize="int8"``) and write it with its config, tokenizer, whet.json and a model card
    naming ``source``, the directory it came from."""
    from whet.io.atomic import atomic_directory, write_json_atomic
    from whet.models.model_card import card_name, write_model_card
    from whet.models.model_info import METADATA
    from whet.models.onnx_export import FILE, export_onnx, quantize_onnx

    info.adapter = False
    with atomic_directory(output) as tmp:
        info.onnx = export_onnx(model, tokenizer, info.task, tmp / FILE)
        if quantize:
            info.onnx["quantization"] = quantize_onnx(tmp / FILE)
        model.config.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        write_json_atomic(tmp / METADATA, info.__dict__)
        write_model_card(tmp, info, name=card_name(output), export="onnx-int8" if quantize else "onnx", source=source)
    return output
