"""Precision through every path: training records what ``auto`` resolved to and evaluates in it;
``whet predict``, ``whet eval``, ``whet serve`` and ``whet.load`` take ``--precision``/``precision``;
bf16 predicts what fp32 predicts; int8 models run as exported."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from tests.conftest import DEMO, write_config
from whet import load
from whet.cli import app
from whet.errors import ConfigError
from whet.models import precision as precision_module
from whet.models.precision import resolve_precision
from whet.predict import Predictor

LABELS = ["balance", "lost_card", "transfer", "greeting"]
TEXTS = ["I lost my card", "what is my balance", "hello there", "send 20 euros to Ana", "my card was stolen",
         "good morning", "how much money do I have", "transfer to savings please", "where is my card?",
         "hi", "can you move money for me", "balance of my checking account"]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    """A tiny random intent classifier saved as a whet model, with clear-cut decisions (large
    initial weights), and a labelled file of its texts."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from whet.config import DataConfig
    from whet.models.pretrained import resolve_model
    from whet.models.saved_model import ModelInfo, save_model

    path = tmp_path_factory.mktemp("precision") / "model"
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("builtin:minilm"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, initializer_range=0.2,
                        num_labels=len(LABELS), id2label=dict(enumerate(LABELS)))
    torch.manual_seed(0)
    info = ModelInfo(task="sequence-classification", labels=LABELS, base_model="builtin:minilm", method="full",
                     data=DataConfig().model_dump(), max_length=128)
    save_model(path, BertForSequenceClassification(config), tokenizer, info)
    (path.parent / "dev.jsonl").write_text("".join(json.dumps({"text": t, "label": LABELS[i % 4]}) + "\n"
                                                   for i, t in enumerate(TEXTS)), encoding="utf-8")
    return path


def head_dtypes(predictor: Predictor) -> list[torch.dtype]:
    """The dtype of the classifier head's output in each forward pass of ``predictor.predict(TEXTS)``."""
    seen = []
    hook = predictor.model.classifier.register_forward_hook(lambda module, args, output: seen.append(output.dtype))
    try:
        predictor.predict(TEXTS)
    finally:
        hook.remove()
    return seen


def test_bf16_predicts_the_labels_fp32_predicts_with_close_probabilities(classifier):
    fp32, bf16 = load(str(classifier), precision="fp32"), load(str(classifier), precision="bf16")
    expected, got = fp32.predict(TEXTS), bf16.predict(TEXTS)
    assert [p["label"] for p in got] == [p["label"] for p in expected]
    gap = max(abs(e["probabilities"][label] - g["probabilities"][label])
              for e, g in zip(expected, got) for label in LABELS)
    assert 0 < gap < 0.02  # bf16 rounds, a little


def test_the_precision_decides_the_autocast_and_auto_is_the_default(classifier):
    assert set(head_dtypes(load(str(classifier), precision="bf16"))) == {torch.bfloat16}
    assert set(head_dtypes(load(str(classifier), precision="fp32"))) == {torch.float32}
    default = load(str(classifier))
    assert default.precision == resolve_precision("auto", default.device)
    with pytest.raises(ConfigError, match=r"^precision 'fp16': choose auto, fp32 or bf16$"):
        load(str(classifier), precision="fp16")


def test_an_int8_model_runs_as_exported_whatever_the_precision(classifier, tmp_path, caplog):
    from whet.export import export_model

    export_model(classifier, tmp_path / "int8", quantize="int8")
    with caplog.at_level(logging.INFO, logger="whet"):
        int8 = load(str(tmp_path / "int8"), precision="bf16")
    assert int8.precision == "fp32" and set(head_dtypes(int8)) == {torch.float32}
    assert "precision bf16 does not apply to an int8 model: it runs its own kernels" in caplog.messages


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def spy(monkeypatch, owner, name: str) -> list[dict]:
    """Record the keyword arguments of each call of ``owner.name``, which still runs."""
    calls, real = [], getattr(owner, name)

    def recorded(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return calls


def test_predict_and_eval_take_the_precision_option(classifier, monkeypatch, tmp_path):
    import whet

    loads = spy(monkeypatch, Predictor, "from_directory")
    outputs = {}
    for precision in ("fp32", "bf16"):
        result = invoke("predict", str(classifier), *TEXTS, "--precision", precision)
        assert result.exit_code == 0, result.output
        outputs[precision] = [json.loads(line)["label"] for line in result.stdout.splitlines()]
    assert [call["precision"] for call in loads] == ["fp32", "bf16"]
    assert outputs["fp32"] == outputs["bf16"] and len(outputs["fp32"]) == len(TEXTS)
    assert invoke("predict", str(classifier), "hi").exit_code == 0 and loads[-1]["precision"] == "auto"

    evaluated = spy(monkeypatch, whet, "load")
    result = invoke("eval", str(classifier), str(classifier.parent / "dev.jsonl"), "--precision", "bf16",
                    "-o", str(tmp_path / "report"))
    assert result.exit_code == 0, result.output
    assert evaluated == [{"precision": "bf16"}] and (tmp_path / "report" / "report.json").is_file()

    refused = invoke("predict", str(classifier), "hi", "--precision", "fp16")
    assert isinstance(refused.exception, ConfigError)
    assert str(refused.exception) == "--precision 'fp16': choose auto, fp32 or bf16"


def test_serve_takes_the_precision_option_and_its_models_predict_in_it(classifier, monkeypatch):
    import whet.serve.run
    from whet.serve.loaded_models import ModelRegistry

    served = []
    # the config it would run with (the model kinds it is handed are another test's)
    monkeypatch.setattr(whet.serve.run, "serve", lambda config, **_: served.append(config))
    assert invoke("serve", str(classifier), "--precision", "fp32").exit_code == 0
    assert invoke("serve", str(classifier)).exit_code == 0
    assert [config.precision for config in served] == ["fp32", "auto"]
    assert invoke("serve", str(classifier), "--precision", "fp16").exit_code != 0

    registry = ModelRegistry(predict_batch_size=8, precision="bf16")
    registry.add("intents", classifier)
    model = registry.load("intents")
    assert model.status == "ready" and model.describe()["precision"] == "bf16"
    examples = model.predictor.task.prediction_inputs(TEXTS, model.predictor.data)
    assert registry.predict("intents", examples) == load(str(classifier), precision="bf16").predict(TEXTS)


@pytest.mark.parametrize(("requested", "expected"), [("auto", "bf16"), ("fp32", "fp32")])
def test_training_resolves_the_precision_once_and_records_it(tiny_bert, tmp_path, monkeypatch, requested, expected):
    import whet.train
    from whet.config import load_config

    # auto as on a machine with fast bf16, whatever this one has.
    monkeypatch.setattr(precision_module, "auto_precision", lambda device_type: ("bf16", "test"))
    evaluations, real_evaluate = [], whet.train.evaluate_features

    def evaluate_features(*args, **kwargs):
        evaluations.append(args[5].precision)  # its EvalSettings
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(whet.train, "evaluate_features", evaluate_features)
    raw = {"task": "sequence-classification", "model": str(tiny_bert),
           "data": {"train": str(DEMO / "intents" / "train.jsonl"), "dev": str(DEMO / "intents" / "dev.jsonl")},
           "training": {"max_steps": 2, "batch_size": 8, "precision": requested}, "output": {"dir": str(tmp_path / "run")}}
    results = whet.train.train(load_config(write_config(tmp_path, "run", raw, {})))

    assert evaluations == [expected] and np.isfinite(results["dev"]["loss"])  # dev, at the last step
    run = tmp_path / "run"
    assert yaml.safe_load((run / "config.yaml").read_text())["training"]["precision"] == requested
    training = json.loads((run / "model" / "whet.json").read_text())["training"]
    assert training["config"]["training"]["precision"] == requested and training["figures"]["precision"] == expected
    assert f"| precision trained in (fp32, or bf16 autocast) | {expected} |" in (run / "model" / "README.md").read_text()


def test_under_bf16_a_loaded_model_predicts_with_linear_weights_cast_once_and_the_same_outputs(classifier):
    from whet.models.inference import autocast
    from whet.models.saved_model import load_saved_model

    loaded = load(str(classifier), precision="bf16")
    linears = [m for m in loaded.model.modules() if isinstance(m, torch.nn.Linear)]
    assert all(m.weight.dtype == torch.float32 for m in linears)  # cast on the predicting thread, at first use
    first = loaded.predict(TEXTS)
    assert linears and all(m.weight.dtype == m.bias.dtype == torch.bfloat16 for m in linears)
    assert {p.dtype for n, p in loaded.model.named_parameters() if "embeddings" in n} == {torch.float32}

    # The same weights in float32, cast by autocast at each call: the same logits to the bit.
    model, tokenizer, info = load_saved_model(classifier)
    shared = Predictor(model, tokenizer, info, precision="bf16")  # not its own model: left as it is
    assert shared.predict(TEXTS) == first
    assert all(m.weight.dtype == torch.float32 for m in model.modules() if isinstance(m, torch.nn.Linear))
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode(), autocast(torch.device("cpu"), "bf16"):
        assert torch.equal(loaded.model(**batch).logits, shared.model(**batch).logits)
    fp32 = load(str(classifier), precision="fp32")
    fp32.predict(TEXTS)
    assert all(m.weight.dtype == torch.float32 for m in fp32.model.modules() if isinstance(m, torch.nn.Linear))
