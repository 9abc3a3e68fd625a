"""``whet export --quantize int8``: int8 weights in safetensors, reloaded into the same predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

from tests.conftest import DEMO
from tests.in_process import run_whet
from tests.integration.test_classification_and_methods import config_for
from whet import load
from whet.config import load_config
from whet.models.int8 import WEIGHTS
from whet.train import train

SENTENCES = ["Maria Lopez flew from Lisbon to Berlin with Northwind Traders.",
             "The Pixel phone was sold by Contoso in Madrid last week."]


@pytest.fixture(scope="module")
def ner_models(tiny_bert, tmp_path_factory):
    """A fully fine-tuned and a LoRA tiny NER model on the demo data."""
    tmp = tmp_path_factory.mktemp("int8")
    data = {"train": str(DEMO / "ner" / "train.conll"), "dev": str(DEMO / "ner" / "dev.conll")}
    models = {}
    for method in ("full", "lora"):
        config = config_for(tmp, tiny_bert, method, "token-classification", data,
                            training={"epochs": 1}, method={"name": method})
        train(load_config(config))
        models[method] = tmp / method / "model"
    return models


def logits(predictor, texts):
    examples = predictor.task.prediction_inputs(texts, predictor.data)
    return np.concatenate(predictor._logits(predictor._encode(examples), 64, 16384))


@pytest.mark.parametrize("method", ["full", "lora"])
def test_int8_export_keeps_predictions_and_stores_int8_safetensors(ner_models, tmp_path, method):
    exported = tmp_path / "int8"
    result = run_whet("export", str(ner_models[method]), "--quantize", "int8", "-o", str(exported))
    assert result.returncode == 0, result.stderr
    assert not list(exported.glob("*.bin")) and not (exported / "adapter_model.safetensors").exists()
    info = json.loads((exported / "whet.json").read_text())
    assert info["quantization"]["scheme"] == "dynamic-int8-per-channel" and info["adapter"] is False
    assert "classifier" not in " ".join(info["quantization"]["modules"])  # the head stays float
    with safe_open(str(exported / WEIGHTS), "pt") as weights:
        dtypes = {weights.get_slice(k).get_dtype() for k in weights.keys() if k.endswith(".weight_int8")}
    assert dtypes == {"I8"} and len(info["quantization"]["modules"]) == 2 * 6  # 6 Linear a layer, 2 layers

    floating, int8 = load(str(ner_models[method])), load(str(exported))
    assert int8.device.type == "cpu"
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in int8.model.modules())
    expected, got = logits(floating, SENTENCES), logits(int8, SENTENCES)
    assert expected.shape == got.shape
    # Per-channel int8 keeps logits close and the decisions (almost) all the same.
    assert np.abs(expected - got).max() < 0.1 * np.abs(expected).max()
    assert (expected.argmax(-1) == got.argmax(-1)).mean() >= 0.9
    assert [p["text"] for p in int8.predict(SENTENCES)] == SENTENCES


def test_export_refuses_bad_requests(ner_models, tmp_path):
    def export(*args):
        return run_whet("export", *args)

    wrong = export(str(ner_models["full"]), "--quantize", "int4", "-o", str(tmp_path / "b"))
    assert wrong.returncode == 2 and "only int8" in wrong.stderr
    (tmp_path / "taken").mkdir()
    taken = export(str(ner_models["full"]), "--quantize", "int8", "-o", str(tmp_path / "taken"))
    assert taken.returncode == 2 and "already exists" in taken.stderr
    nothing = export(str(tmp_path / "nope"), "--quantize", "int8", "-o", str(tmp_path / "c"))
    assert nothing.returncode == 2 and "does not exist" in nothing.stderr
    int8 = tmp_path / "int8"
    assert export(str(ner_models["full"]), "--quantize", "int8", "-o", str(int8)).returncode == 0
    again = export(str(int8), "--quantize", "int8", "-o", str(tmp_path / "d"))
    assert again.returncode == 2 and "already quantized" in again.stderr
    assert "Traceback" not in wrong.stderr + taken.stderr + nothing.stderr + again.stderr


def test_int8_state_round_trips_exactly(ner_models):
    from whet.models.int8 import load_weights, quantize, quantized_state

    model = load(str(ner_models["full"])).model
    quantized, modules = quantize(model)
    state = quantized_state(quantized, modules)
    skeleton = type(quantized)(quantized.config)
    # load_weights reads from a directory; write the tensors the way export does.
    import tempfile
    from pathlib import Path

    from whet.models.int8 import save_weights
    with tempfile.TemporaryDirectory() as tmp:
        save_weights(Path(tmp), quantized, modules)
        rebuilt = load_weights(Path(tmp), skeleton, modules)
    ids = torch.randint(1000, 5000, (2, 12))
    with torch.inference_mode():
        assert torch.equal(quantized(input_ids=ids).logits, rebuilt(input_ids=ids).logits)
    assert all(state[f"{m}.weight_int8"].dtype == torch.int8 for m in modules)


@pytest.mark.parametrize("amx", [False, True])
def test_int8_runs_on_onednn_where_the_cpu_has_amx_with_the_same_decisions(ner_models, monkeypatch, amx):
    import copy

    from whet.models.int8 import FullRangeLinear, choose_engine, quantize

    default = torch.backends.quantized.engine
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    try:
        torch.backends.quantized.engine = "x86" if "x86" in torch.backends.quantized.supported_engines else default
        before = torch.backends.quantized.engine
        assert choose_engine() == ("onednn" if amx else before)
        model = load(str(ner_models["full"])).model.float().eval()
        quantized, modules = quantize(copy.deepcopy(model))
        ids = torch.randint(1000, 5000, (2, 12))
        with torch.inference_mode():
            expected, got = model(input_ids=ids).logits, quantized(input_ids=ids).logits
        assert torch.backends.quantized.engine == ("onednn" if amx else before)
        named = dict(quantized.named_modules())
        assert all(isinstance(named[m], FullRangeLinear) == amx for m in modules)
        assert (expected - got).abs().max() < 0.1 * expected.abs().max()
        assert (expected.argmax(-1) == got.argmax(-1)).float().mean() >= 0.9
    finally:
        torch.backends.quantized.engine = default


@pytest.mark.skipif("onednn" not in torch.backends.quantized.supported_engines, reason="torch built without oneDNN")
def test_full_range_activations_halve_the_int8_error_on_onednn():
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    from whet.models.int8 import FullRangeLinear

    default = torch.backends.quantized.engine
    torch.backends.quantized.engine = "onednn"
    try:
        torch.manual_seed(0)
        linear = torch.nn.Linear(384, 384)
        weight = torch.quantize_per_channel(linear.weight.detach(), linear.weight.abs().amax(1) / 127,
                                            torch.zeros(384, dtype=torch.long), 0, torch.qint8)
        errors = {}
        for kind in (DynamicLinear, FullRangeLinear):
            module = kind(384, 384)
            module.set_weight_bias(weight, linear.bias.detach())
            x = torch.randn(64, 384)
            with torch.inference_mode():
                errors[kind] = (module(x) - linear(x)).pow(2).mean().item()
        assert errors[FullRangeLinear] < 0.6 * errors[DynamicLinear]
    finally:
        torch.backends.quantized.engine = default
