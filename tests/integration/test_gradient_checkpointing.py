"""``training.gradient_checkpointing``: every task x method pair of the shared loop gives the same
loss and gradients as without it while keeping fewer activations; a run with it saves the same
model; models and methods that cannot use it are refused with the fix."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from tests.integration.test_methods import TASK_FIXTURES, pairs
from tests.in_process import run_whet
from whet.config import RunConfig, load_config
from whet.errors import ConfigError
from whet.training.gradient_checkpointing import disable_gradient_checkpointing, enable_gradient_checkpointing


@pytest.fixture(scope="module")
def models(tiny_bert, tiny_gpt2) -> dict[str, Path]:
    return {"encoder": tiny_bert, "decoder": tiny_gpt2}


def run_config(tmp_path: Path, task: str, method: str, options: dict, models: dict[str, Path], **training) -> Path:
    from whet.methods import METHODS

    model_path, data = TASK_FIXTURES[task](tmp_path, models)
    section = METHODS.get(method).section
    settings = {"num_virtual_tokens": 4} if method in ("prefix-tuning", "prompt-tuning", "p-tuning") else options
    raw = {"task": task, "model": str(model_path), "data": data,
           "method": {"name": method, **({section: settings} if section else {})},
           "training": {"max_steps": 2, "lr": 1e-2, "batch_size": 4, "warmup_ratio": 0, "seed": 1, **training},
           "output": {"dir": str(tmp_path / "run")}}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path / "run.yaml"


def training_model_and_batch(config: RunConfig) -> tuple[torch.nn.Module, dict]:
    """The model ``whet train`` would train (method applied, dropout off) and a batch of 4 training examples."""
    from whet.data.prepare import load_run_data
    from whet.tasks import TASKS
    from whet.training.setup import apply_method, build_model, load_tokenizer_and_window

    task = TASKS.get(config.task)
    tokenizer, _ = load_tokenizer_and_window(config.model, task, config.data, config.method)
    data = load_run_data(task, config.data, config.training.seed)
    features = task.encode(data.train[:4], tokenizer=tokenizer, labels=data.labels, max_length=48,
                           stride=config.data.stride, data=config.data)
    torch.manual_seed(0)  # the new head and the method's parameters start the same in both runs
    model = build_model(config.model, task, data.labels, config.data, method_config=config.method, tokenizer=tokenizer)
    model = apply_method(model, config.method, config.task, task.peft_task_type, total_steps=10)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return without_dropout(model), task.collate(features[:4], pad_token_id=pad_id)


def without_dropout(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` in training mode with every dropout off, so two forward passes compute the same."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model.train()


def one_step(model: torch.nn.Module, loss_of: Callable[[torch.nn.Module], torch.Tensor]
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor], int]:
    """Loss, gradients of the trainable parameters, and bytes the forward saved for the backward
    outside checkpointed layers (checkpointing keeps its own, which it recomputes)."""
    saved = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = loss_of(model)
    loss.backward()
    gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    return loss.detach(), gradients, saved


def model_loss(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    from whet.models.inference import model_inputs

    return model(**model_inputs(batch)).loss


def assert_same_step(plain: tuple, checkpointed: tuple, *, body_trains: bool = True) -> None:
    (loss, gradients, saved), (loss_ckpt, gradients_ckpt, saved_ckpt) = plain, checkpointed
    torch.testing.assert_close(loss_ckpt, loss)
    assert gradients and gradients_ckpt.keys() == gradients.keys()
    for name, gradient in gradients.items():
        torch.testing.assert_close(gradients_ckpt[name], gradient, rtol=1e-4, atol=1e-6, msg=name)
    # Without gradients into the body (method frozen) no layer keeps activations, checkpointed or not.
    if body_trains:
        assert saved_ckpt < saved, f"checkpointing kept {saved_ckpt} of {saved} bytes of activations"


def shared_loop_pairs() -> list:
    # Prefix tuning is refused with checkpointing (test below); SetFit has a loop of its own (test below).
    return [p for p in pairs() if p.values[1] != "prefix-tuning"]


@pytest.mark.parametrize("task,method,options", shared_loop_pairs())
def test_checkpointing_gives_the_same_loss_and_gradients_with_fewer_saved_activations(task, method, options, models,
                                                                                      tmp_path):
    config = load_config(run_config(tmp_path, task, method, options, models))
    model, batch = training_model_and_batch(config)
    plain = one_step(model, lambda m: model_loss(m, batch))
    model.zero_grad(set_to_none=True)
    enable_gradient_checkpointing(model)
    checkpointed = one_step(model, lambda m: model_loss(m, batch))
    assert_same_step(plain, checkpointed, body_trains=method != "frozen")

    disable_gradient_checkpointing(model)
    model.zero_grad(set_to_none=True)
    _, _, saved_after = one_step(model, lambda m: model_loss(m, batch))
    assert saved_after == plain[2]  # off again: the model keeps every activation, as it was loaded


def test_fewshot_encoder_checkpointing_gives_the_same_contrastive_step(tiny_bert):
    from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

    from whet.models.sentence_model import load_sentence_encoder

    encoder = without_dropout(load_sentence_encoder(str(tiny_bert)))
    prepare = getattr(encoder, "preprocess", None) or encoder.tokenize
    first, second = prepare(["alpha bravo charlie", "delta echo"]), prepare(["alpha bravo", "golf hotel india"])
    targets = torch.tensor([1.0, 0.0])
    loss = CosineSimilarityLoss(encoder)

    def contrastive_loss(model: torch.nn.Module) -> torch.Tensor:
        return loss([first, second], targets)

    plain = one_step(encoder, contrastive_loss)
    encoder.zero_grad(set_to_none=True)
    enable_gradient_checkpointing(encoder)
    assert_same_step(plain, one_step(encoder, contrastive_loss))


def test_whet_train_with_checkpointing_saves_the_model_a_run_without_it_saves(models, tmp_path):
    """``whet train --set training.gradient_checkpointing=true`` on a tiny GPT-2: it says so, and the
    saved model is the one a run without checkpointing saves, with nothing of it in its config."""
    from safetensors.torch import load_file

    from whet.models.saved_model import load_saved_model
    from whet.train import train

    config_path = run_config(tmp_path, "causal-lm", "lora", {}, models)
    result = run_whet("train", str(config_path), "--set", "training.gradient_checkpointing=true",
                      "--set", f"output.dir={tmp_path / 'checkpointed'}")
    assert result.returncode == 0, result.stderr
    assert "gradient checkpointing on" in result.stderr + result.stdout
    train(load_config(config_path))  # the same run without checkpointing, into tmp_path / "run"

    checkpointed, plain = tmp_path / "checkpointed" / "model", tmp_path / "run" / "model"
    weights, reference = load_file(str(checkpointed / "adapter_model.safetensors")), \
        load_file(str(plain / "adapter_model.safetensors"))
    assert weights.keys() == reference.keys()
    for name, tensor in reference.items():
        torch.testing.assert_close(weights[name], tensor, rtol=1e-4, atol=1e-6, msg=name)
    assert "gradient_checkpointing" not in (checkpointed / "adapter_config.json").read_text() + \
        json.dumps(load_saved_model(checkpointed)[0].config.to_dict())
    loaded = load_saved_model(checkpointed)[0]
    assert not any(getattr(m, "gradient_checkpointing", False) for m in loaded.modules())


def test_a_model_without_checkpointing_support_is_refused_with_the_fix(tiny_bert, monkeypatch, tmp_path):
    import transformers

    from tests.integration.test_training import make_config
    from whet.train import train

    monkeypatch.setattr(transformers.BertForTokenClassification, "supports_gradient_checkpointing", False)
    config = load_config(make_config(tmp_path, tiny_bert, "unsupported",
                                     training={"max_steps": 1, "gradient_checkpointing": True}))
    with pytest.raises(ConfigError, match=r"^training\.gradient_checkpointing: bert models do not support gradient "
                                          r"checkpointing; set training\.gradient_checkpointing to false$"):
        train(config)


def test_prefix_tuning_with_checkpointing_is_refused_at_validation(models, tmp_path):
    path = run_config(tmp_path, "causal-lm", "prefix-tuning", {}, models, gradient_checkpointing=True)
    with pytest.raises(ConfigError, match=r"training\.gradient_checkpointing: method 'prefix-tuning' cannot train "
                                          r"with it \(checkpointed layers drop the key/value cache that carries "
                                          r"the prefix\); set training\.gradient_checkpointing to false"):
        load_config(path)


def test_prefix_tuning_breaks_under_checkpointing(models, tmp_path):
    """Why the refusal above exists: checkpointed layers run without the prefix's keys and values."""
    config = load_config(run_config(tmp_path, "causal-lm", "prefix-tuning", {}, models))
    model, batch = training_model_and_batch(config)
    _, gradients, _ = one_step(model, lambda m: model_loss(m, batch))
    enable_gradient_checkpointing(model)
    assert any("prompt_encoder" in name for name in gradients)
    # The attention mask still counts the prefix positions whose keys and values were dropped.
    with pytest.raises(RuntimeError, match="size of tensor"):
        one_step(model, lambda m: model_loss(m, batch))


def test_fewshot_run_with_checkpointing_saves_the_model_a_run_without_it_saves(tiny_bert, tmp_path, caplog):
    import logging

    from safetensors.torch import load_file

    from tests.integration.test_fewshot import fewshot_config
    from whet.train import train

    with caplog.at_level(logging.INFO, logger="whet"):
        train(load_config(fewshot_config(tmp_path, tiny_bert, "checkpointed"),
                          ["training.gradient_checkpointing=true"]))
    assert "gradient checkpointing on" in caplog.text
    train(load_config(fewshot_config(tmp_path, tiny_bert, "plain")))
    for name in ("classifier.safetensors", "model.safetensors"):
        weights, reference = (load_file(str(tmp_path / run / "model" / name)) for run in ("checkpointed", "plain"))
        for key, tensor in reference.items():
            torch.testing.assert_close(weights[key], tensor, rtol=1e-4, atol=1e-5, msg=f"{name}: {key}")
