"""An int8 export directory with a file missing, cut short or out of step with the rest is
refused on load with a message that names the file and says to export again; never a
traceback, and never a model that loads with garbage in it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from tests.conftest import write_config
from tests.in_process import run_whet
from whet import load
from whet.config import load_config
from whet.errors import ModelError
from whet.export import export_model
from whet.models.int8 import SCHEME, WEIGHTS
from whet.train import train

FFN = "bert.encoder.layer.0.intermediate.dense"  # a quantized Linear: 64 outputs, 32 inputs


@pytest.fixture(scope="module")
def int8_export(tiny_bert, tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("int8-broken")
    rows = [{"text": f"item {i} " + ("yes please" if i % 2 else "no thanks"), "label": "yes" if i % 2 else "no"}
            for i in range(12)]
    data = tmp_path / "yesno.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    raw = {"task": "sequence-classification", "model": str(tiny_bert), "data": {"train": str(data), "dev": str(data)},
           "training": {"max_steps": 2, "batch_size": 4, "seed": 1}, "output": {"dir": str(tmp_path / "run")}}
    train(load_config(write_config(tmp_path, "run", raw, {})))
    return export_model(tmp_path / "run" / "model", tmp_path / "int8", quantize="int8")


def rewrite_weights(directory: Path, change: Callable[[dict], None]) -> None:
    tensors = load_file(str(directory / WEIGHTS))
    change(tensors)
    save_file(tensors, str(directory / WEIGHTS), metadata={"scheme": SCHEME})


def transpose_ffn_weight(tensors: dict) -> None:
    tensors[f"{FFN}.weight_int8"] = tensors[f"{FFN}.weight_int8"].T.contiguous()


def edit_info(directory: Path, **changes) -> None:
    info = json.loads((directory / "whet.json").read_text())
    (directory / "whet.json").write_text(json.dumps({**info, **changes}))


# name -> (what is done to a copy of the export, the message on load)
DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "weights file missing": (
        lambda d: (d / WEIGHTS).unlink(),
        r"is marked int8 but has no model\.int8\.safetensors; export it again with whet export --quantize int8"),
    "weights file cut short": (
        lambda d: (d / WEIGHTS).write_bytes((d / WEIGHTS).read_bytes()[:1000]),
        r"model\.int8\.safetensors is not a readable safetensors file \(.+\); export it again with "
        r"whet export --quantize int8"),
    "weights file overwritten": (
        lambda d: (d / WEIGHTS).write_text("not safetensors"),
        r"model\.int8\.safetensors is not a readable safetensors file \(.+\); export it again"),
    "an int8 weight missing": (
        lambda d: rewrite_weights(d, lambda t: t.pop(f"{FFN}.weight_int8")),
        rf"model\.int8\.safetensors lacks the int8 weight of {FFN}; export it again"),
    "an int8 weight of another shape": (
        lambda d: rewrite_weights(d, transpose_ffn_weight),
        rf"model\.int8\.safetensors: the int8 weight of {FFN} has shape \[32, 64\] \(scales \[64\]\) but the model "
        rf"config gives \[64, 32\]; export it again"),
    "a float weight missing": (
        lambda d: rewrite_weights(d, lambda t: t.pop("bert.embeddings.LayerNorm.bias")),
        r"model\.int8\.safetensors does not match the model config \(missing \['bert\.embeddings\.LayerNorm\.bias'\], "
        r"unexpected \[\]\)"),
    "quantized modules the file does not hold": (
        lambda d: edit_info(d, quantization={"scheme": SCHEME, "modules": ["bert.pooler.dense"]}),
        r"model\.int8\.safetensors does not match the model config \(missing "
        r"\['bert\.encoder\.layer\.0\.attention\.self\.query\.weight', .*\], unexpected "
        r"\['bert\.encoder\.layer\.0\.attention\.self\.query\.weight_scale', .*\]\)"),
    "config.json missing": (
        lambda d: (d / "config.json").unlink(),
        r"cannot load the model config from .*/broken: it has no config\.json"),
    "tokenizer.json missing": (
        lambda d: (d / "tokenizer.json").unlink(),
        r"broken has no tokenizer\.json; copy the whole model directory, or save or export it again"),
    "whet.json missing": (
        lambda d: (d / "whet.json").unlink(),
        r"broken has no whet\.json; it is not a model saved by whet"),
    "whet.json cut short": (
        lambda d: (d / "whet.json").write_text((d / "whet.json").read_text()[:40]),
        r"broken/whet\.json is not a whet model description \(.+\); save or export the model again"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_broken_int8_export_is_refused_on_load(damage, int8_export, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(int8_export, broken)
    assert load(str(broken)).predict(["yes please"])[0]["label"] in {"yes", "no"}  # whole, the copy loads
    damage_files, message = DAMAGE[damage]
    damage_files(broken)
    with pytest.raises(ModelError, match=message):
        load(str(broken))


def test_whet_predict_on_a_broken_int8_export_prints_one_error_line(int8_export, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(int8_export, broken)
    (broken / WEIGHTS).write_bytes((broken / WEIGHTS).read_bytes()[:1000])
    done = run_whet("predict", str(broken), "yes please")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"error: {broken / WEIGHTS} is not a readable safetensors file")
