"""The method registry: support tables, refusals, hooks, and the bottleneck adapter layers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT
from whet.config import MethodConfig, validation_problems
from whet.errors import WhetError
from whet.methods import METHODS, method_problem, methods_for
from whet.methods.adalora import AdaLoraSettings
from whet.methods.base import EVERY_TASK, MethodSettings
from whet.methods.bottleneck import BottleneckSettings


def test_support_table_in_the_docs_is_current():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import methods_table
    finally:
        sys.path.pop(0)
    assert (ROOT / "docs" / "methods.md").read_text() == methods_table.render(methods_table.OUT.read_text()), \
        "run: python scripts/methods_table.py"


def test_every_method_declares_known_tasks_and_an_existing_settings_section():
    for name in METHODS.names():
        method = METHODS.get(name)
        assert method.name == name
        assert method.tasks is None or method.tasks <= EVERY_TASK, name
        assert method.section is None or method.section in MethodConfig.model_fields, name
        assert set(method.why_not) <= EVERY_TASK - (method.tasks or EVERY_TASK), name
    assert METHODS.get("full").supports("a-task-added-later")
    assert not METHODS.get("lora").supports("a-task-added-later")


def test_a_method_with_settings_defines_them_in_its_module_and_the_method_section_takes_them():
    for name in METHODS.names():
        method = METHODS.get(name)
        assert (method.section is None) == (method.settings is None), name
        if method.settings is not None:
            assert issubclass(method.settings, MethodSettings), name
            assert method.settings.__module__ == f"whet.methods.{method.section}", name
            assert MethodConfig.model_fields[method.section].annotation is method.settings, name


def test_unsupported_pairs_are_refused_with_the_reason_and_the_alternatives():
    assert method_problem("lora", "token-classification") is None
    assert method_problem("prompt-tuning", "question-answering") == (
        "method 'prompt-tuning' cannot train task 'question-answering' (its virtual tokens add output positions "
        "that peft does not shift the answer positions past); for question-answering choose one of: full, frozen, "
        "bitfit, lora, adalora, ia3, prefix-tuning, bottleneck (see docs/methods.md)")
    assert "cannot train task 'causal-lm' (it trains only a new task head" in method_problem("frozen", "causal-lm")
    assert methods_for("multiple-choice") == ["full", "frozen", "bitfit", "lora", "adalora", "ia3", "bottleneck"]
    assert method_problem("ia3", "sequence-classification", merge=True) is None
    assert method_problem("prefix-tuning", "causal-lm", merge=True).startswith(
        "output.merge: method 'prefix-tuning' cannot be merged into the base weights; merging works for lora, "
        "adalora, ia3")
    assert validation_problems({"task": "token-classification", "method": {"name": "p-tuning"}})[0].startswith(
        "method 'p-tuning' cannot train task 'token-classification'")


@pytest.mark.parametrize("installed,refused", [("5.23.0", False), ("5.24.0", True), ("5.25.0", True),
                                                ("6.0.0.dev0", True)])
def test_prefix_tuning_on_encoders_is_refused_from_the_transformers_that_renamed_its_argument(
        monkeypatch, installed, refused):
    import whet.methods.prefix_tuning as prefix_tuning

    monkeypatch.setattr(prefix_tuning, "version", lambda package: installed)
    assert method_problem("prefix-tuning", "causal-lm") is None  # decoders keep the argument
    problem = method_problem("prefix-tuning", "token-classification")
    if not refused:
        assert problem is None
        return
    assert problem == (
        "method 'prefix-tuning' cannot train task 'token-classification' with the installed libraries: "
        "transformers 5.24.0 renamed the encoder argument through which peft passes the prefixes "
        f"(installed: {installed}); use method prompt-tuning or lora instead, or install 'transformers<5.24'")


def test_whet_validate_refuses_prefix_tuning_on_encoders_exactly_when_the_installed_transformers_cannot(tmp_path):
    from importlib.metadata import version

    from packaging.version import Version

    result = subprocess.run(
        [sys.executable, "-m", "whet", "validate", str(ROOT / "configs" / "demo-ner.yaml"),
         "--set", "method.name=prefix-tuning"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if Version(version("transformers")).release[:2] >= (5, 24):
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "with the installed libraries: transformers 5.24.0 renamed" in lines[0]
        assert "Traceback" not in result.stderr
    else:
        assert result.returncode == 0, result.stderr


def test_method_settings_are_validated():
    assert validation_problems({"task": "sequence-classification",
                                "method": {"name": "adalora", "adalora": {"tinit": 0.5, "tfinal": 0.5}}}) == [
        "method.adalora: tinit + tfinal must be below 1 to leave steps for rank allocation (got 0.5 + 0.5)"]
    with pytest.raises(ValueError, match=r"target_r \(16\) must not exceed init_r \(12\)"):
        AdaLoraSettings(target_r=16)
    assert validation_problems({"task": "sequence-classification",
                                "method": {"name": "bottleneck", "bottleneck": {"activaton": "relu"}}}) == [
        "method.bottleneck.activaton: unknown key; did you mean 'activation'?"]


def test_checking_a_config_imports_no_torch():
    code = ("import sys; from whet.config import validation_problems; "
            "assert validation_problems({'task': 'sequence-classification', 'method': {'name': 'bottleneck'}}) == []; "
            "assert validation_problems({'task': 'token-classification', 'method': {'name': 'prompt-tuning'}}); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_windows_shrink_by_the_virtual_tokens():
    from whet.training.setup import window_length

    assert window_length(None, 512, 0) == 512
    assert window_length(None, 512, 20) == 492
    assert window_length(128, 512, 20) == 128
    with pytest.raises(WhetError, match="leaving 8 for the input; lower num_virtual_tokens"):
        window_length(None, 28, 20)


def tiny_bert_classifier():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2,
                                                    num_attention_heads=2, intermediate_size=32, num_labels=3))


def test_adalora_reads_the_final_ranks_off_a_resumed_checkpoint():
    method = METHODS.get("adalora")
    model = method.apply(tiny_bert_classifier(), AdaLoraSettings(init_r=4, target_r=2, tfinal=0.5), "SEQ_CLS",
                         total_steps=10)
    config = model.peft_config["default"]
    assert (config.total_step, config.tinit, config.tfinal) == (10, 1, 5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_E" in name:
                p.fill_(1.0)
                p[0] = 0.0  # as pruned before the interruption
    allocate = method.step_callback(model)
    allocate(7)  # in the final phase, with no rank pattern in memory
    assert config.rank_pattern and all(mask == [False, True, True, True] for mask in config.rank_pattern.values())


def test_bottleneck_adapters_start_near_identity_and_train_alone():
    model = tiny_bert_classifier().eval()
    inputs = {"input_ids": torch.tensor([[1, 5, 7, 9, 2]])}
    with torch.no_grad():
        before = model(**inputs).logits
    model = METHODS.get("bottleneck").apply(model, BottleneckSettings(size=4), "SEQ_CLS")
    assert set(model.whet_bottleneck["modules"]) == {f"bert.encoder.layer.{i}.{part}" for i in range(2)
                                                     for part in ("attention.output.dense", "output.dense")}
    with torch.no_grad():
        after = model(**inputs).logits
    torch.testing.assert_close(after, before, rtol=0, atol=1e-3)
    assert not torch.equal(after, before)
    model(**inputs, labels=torch.tensor([1])).loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad == {n for n, _ in model.named_parameters() if "bottleneck_adapter" in n or n.startswith("classifier.")}


def test_bottleneck_adapters_fit_gpt2_and_reload(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from whet.methods import bottleneck

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=32, bos_token_id=0, eos_token_id=0)
    model = METHODS.get("bottleneck").apply(GPT2LMHeadModel(config), BottleneckSettings(size=4), "CAUSAL_LM")
    assert model.whet_bottleneck["modules"] == ["transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_proj",
                                                "transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_proj"]
    assert model.whet_bottleneck["heads"] == []  # the tied LM head stays frozen
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        n for n, _ in model.named_parameters() if "bottleneck_adapter" in n}
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "bottleneck_adapter.up.weight" in name:
                p.normal_()  # as if trained
    inputs = torch.tensor([[3, 4, 5, 6]])
    bottleneck.save(model, tmp_path)
    torch.manual_seed(0)
    loaded = bottleneck.load(GPT2LMHeadModel(config), tmp_path)
    model.eval(), loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(inputs).logits, model(inputs).logits, rtol=0, atol=0)
