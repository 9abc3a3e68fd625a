"""``whet export --onnx``: an ONNX graph run by onnxruntime gives the torch model's predictions,
for every task it exports, with padded batches of mixed lengths; bad requests are refused."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from tests.in_process import run_whet
from tests.integration.test_export_int8 import SENTENCES, logits, ner_models  # noqa: F401  (a fixture)
from whet import load
from whet.export import export_model

# Mixed lengths: rows of a batch are padded, so the exported attention-mask path is exercised.
TEXTS = ["I lost my card", "how much money is in my checking account right now, please tell me", "hi"]


def run_export(*args: str) -> subprocess.CompletedProcess:
    return run_whet("export", *args)


def test_onnx_export_of_a_lora_ner_model_predicts_what_the_torch_model_does(ner_models, tmp_path):  # noqa: F811
    method = "lora"  # merged first; a full model is exported in the test below
    exported = tmp_path / "onnx"
    result = run_export(str(ner_models[method]), "--onnx", "-o", str(exported))
    assert result.returncode == 0, result.stderr
    assert "ONNX model written" in result.stderr and "INFO" not in result.stderr
    info = json.loads((exported / "whet.json").read_text())
    assert info["onnx"]["file"] == "model.onnx" and info["onnx"]["outputs"] == ["logits"] and info["adapter"] is False
    assert (exported / "model.onnx").stat().st_size > 0
    assert not list(exported.glob("*.safetensors")) and not list(exported.glob("*.bin"))

    # The graph is the float32 model's: compared with it, not with bf16 autocast.
    torch_model, onnx_model = load(str(ner_models[method]), precision="fp32"), load(str(exported))
    assert type(onnx_model.model).__name__ == "OnnxModel"
    texts = SENTENCES + TEXTS
    np.testing.assert_allclose(logits(onnx_model, texts), logits(torch_model, texts), atol=1e-4)
    assert _same_up_to_float_noise(onnx_model.predict(texts), torch_model.predict(texts))


def test_int8_onnx_export_quantizes_the_matrix_products_and_keeps_the_decisions(ner_models, tmp_path):  # noqa: F811
    import onnx

    floating, exported = tmp_path / "onnx", tmp_path / "onnx-int8"
    export_model(ner_models["lora"], floating, onnx=True)
    result = run_export(str(ner_models["lora"]), "--onnx", "--quantize", "int8", "-o", str(exported))
    assert result.returncode == 0, result.stderr
    assert "int8 ONNX model written" in result.stderr
    info = json.loads((exported / "whet.json").read_text())
    assert info["onnx"]["quantization"]["scheme"] == "onnxruntime-dynamic-int8-per-channel"
    assert info.get("quantization") is None and info["adapter"] is False  # loaded as ONNX, not as torch int8
    operators = {node.op_type for node in onnx.load(str(exported / "model.onnx")).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= operators
    assert "MatMulInteger" not in {node.op_type for node in onnx.load(str(floating / "model.onnx")).graph.node}
    assert "onnx-int8" in (exported / "README.md").read_text()
    assert not list(exported.glob("*.int8.onnx"))  # the quantized graph replaced the float one

    expected, got = logits(load(str(floating)), SENTENCES), logits(load(str(exported)), SENTENCES)
    assert expected.shape == got.shape and not np.array_equal(expected, got)
    assert np.abs(expected - got).max() < 0.1 * np.abs(expected).max()
    assert (expected.argmax(-1) == got.argmax(-1)).mean() >= 0.9


def _same_up_to_float_noise(left: list[dict], right: list[dict]) -> bool:
    for a, b in zip(left, right):
        if a["tags"] != b["tags"] or [(e["type"], e["start"], e["end"]) for e in a["entities"]] != \
                [(e["type"], e["start"], e["end"]) for e in b["entities"]]:
            return False
        if any(abs(x["score"] - y["score"]) > 1e-4 for x, y in zip(a["entities"], b["entities"])):
            return False
    return len(left) == len(right)


def _saved(tmp_path, tiny_bert, task: str, labels: list[str], **data):
    """A whet model directory of ``task`` with random weights (export needs no training)."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    from whet import __version__
    from whet.config import DataConfig
    from whet.models.saved_model import ModelInfo, save_model
    from whet.tasks import TASKS

    head = {"num_labels": len(labels), "id2label": dict(enumerate(labels))} if labels else {}
    config = AutoConfig.from_pretrained(tiny_bert, **head)
    torch.manual_seed(1)
    model = getattr(transformers, TASKS.get(task).auto_class).from_config(config)
    info = ModelInfo(task=task, labels=labels, base_model=str(tiny_bert), method="full",
                     data=DataConfig(**data).model_dump(), max_length=128, whet_version=__version__)
    return save_model(tmp_path / task, model, AutoTokenizer.from_pretrained(tiny_bert), info)


CASES = {
    "sequence-classification": (["a", "b", "c"], {}, TEXTS),
    "question-answering": ([], {}, [{"question": "who lost it?", "context": "Maria lost her card in Lisbon."},
                                    {"question": "where?", "context": "In Berlin, where the card was found " * 3}]),
    "multiple-choice": ([], {}, [{"question": "The sky is", "options": ["blue", "green", "made of cheese today"]},
                                 {"question": "Two plus two is", "options": ["four", "five"]}]),
}


@pytest.mark.parametrize("task", list(CASES))
def test_onnx_export_covers_the_other_encoder_tasks(tiny_bert, tmp_path, task):
    labels, data, inputs = CASES[task]
    source = _saved(tmp_path, tiny_bert, task, labels, **data)
    export_model(source, tmp_path / "onnx", onnx=True)
    torch_model, onnx_model = load(str(source), precision="fp32"), load(str(tmp_path / "onnx"))
    expected, got = torch_model._logits(torch_model._encode(torch_model.task.prediction_inputs(inputs, torch_model.data)),
                                        64, 16384), \
        onnx_model._logits(onnx_model._encode(onnx_model.task.prediction_inputs(inputs, onnx_model.data)), 64, 16384)
    assert len(expected) == len(got)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, atol=1e-4)
    assert [set(p) for p in onnx_model.predict(inputs)] == [set(p) for p in torch_model.predict(inputs)]


def test_onnx_export_refuses_what_it_cannot_export(ner_models, tiny_gpt2, tmp_path):  # noqa: F811
    from whet.models.saved_model import ModelInfo, save_model

    from transformers import AutoTokenizer, GPT2LMHeadModel

    lm = save_model(tmp_path / "lm", GPT2LMHeadModel.from_pretrained(tiny_gpt2), AutoTokenizer.from_pretrained(tiny_gpt2),
                    ModelInfo(task="causal-lm", labels=[], base_model=str(tiny_gpt2), method="full", data={},
                              max_length=64))
    causal = run_export(str(lm), "--onnx", "-o", str(tmp_path / "b"))
    assert causal.returncode == 2 and "ONNX export is for token-classification" in causal.stderr
    import shutil

    exported = shutil.copytree(ner_models["full"], tmp_path / "onnx")  # marked as an export: refused before loading
    info = json.loads((exported / "whet.json").read_text())
    (exported / "whet.json").write_text(json.dumps({**info, "onnx": {"file": "model.onnx"}}))
    again = run_export(str(exported), "--onnx", "-o", str(tmp_path / "c"))
    assert again.returncode == 2 and "already an ONNX export" in again.stderr
    assert "Traceback" not in causal.stderr + again.stderr
