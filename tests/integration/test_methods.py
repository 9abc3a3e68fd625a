"""Every supported task x method pair trains a few steps on a tiny model; only the intended
parameters change, and the saved model gives the same outputs once loaded again.

The pairs come from the registries, so a task or method added later joins automatically;
a new task needs a fixture builder in TASK_FIXTURES (the test fails until it has one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from whet.config import load_config
from whet.errors import ConfigError
from whet.methods import METHODS
from whet.tasks import TASKS

# -- tiny data per task: builder(tmp_path, tiny models) -> (model path, data section) ------------------

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


def sequence_classification_fixture(tmp_path: Path, models: dict[str, Path]) -> tuple[Path, dict]:
    rows = [{"text": f"{WORDS[i % 8]} {WORDS[(i * 3) % 8]} item {i}", "label": ["red", "green", "blue"][i % 3]}
            for i in range(18)]
    for split, part in (("train", rows[:12]), ("dev", rows[12:])):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    return models["encoder"], {"train": str(tmp_path / "train.jsonl"), "dev": str(tmp_path / "dev.jsonl")}


def token_classification_fixture(tmp_path: Path, models: dict[str, Path]) -> tuple[Path, dict]:
    sentences = []
    for i in range(18):
        sentences.append(f"{WORDS[i % 8].title()}\tB-PER\n{WORDS[(i + 1) % 8]}\tI-PER\nvisited\tO\n"
                         f"{WORDS[(i + 2) % 8].title()}\tB-LOC\n")
    for split, part in (("train", sentences[:12]), ("dev", sentences[12:])):
        (tmp_path / f"{split}.conll").write_text("\n".join(part))
    return models["encoder"], {"train": str(tmp_path / "train.conll"), "dev": str(tmp_path / "dev.conll")}


# A new task adds its builder here, and its tiny model to the ``models`` fixture if it needs another.
def causal_lm_fixture(tmp_path: Path, models: dict[str, Path]) -> tuple[Path, dict]:
    rows = [{"prompt": f"{WORDS[i % 8]} {i}:", "response": f" {WORDS[(i * 3) % 8]} {WORDS[(i + 1) % 8]}"}
            for i in range(18)]
    for split, part in (("train", rows[:12]), ("dev", rows[12:])):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    return models["decoder"], {"train": str(tmp_path / "train.jsonl"), "dev": str(tmp_path / "dev.jsonl")}


def question_answering_fixture(tmp_path: Path, models: dict[str, Path]) -> tuple[Path, dict]:
    rows = []
    for i in range(18):
        words = [WORDS[(i + k) % 8] for k in range(6)]
        start = len(" ".join(words[:3])) + 1  # the fourth word is the answer, or none every third row
        answers = [] if i % 3 == 0 else [{"text": words[3], "answer_start": start}]
        rows.append({"question": f"which word follows {words[2]}?", "context": " ".join(words), "answers": answers})
    for split, part in (("train", rows[:12]), ("dev", rows[12:])):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    return models["encoder"], {"train": str(tmp_path / "train.jsonl"), "dev": str(tmp_path / "dev.jsonl")}


def multiple_choice_fixture(tmp_path: Path, models: dict[str, Path]) -> tuple[Path, dict]:
    rows = [{"question": f"{WORDS[i % 8]} {i}?", "options": [WORDS[(i + k) % 8] for k in range(3)], "answer": i % 3}
            for i in range(18)]
    for split, part in (("train", rows[:12]), ("dev", rows[12:])):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    return models["encoder"], {"train": str(tmp_path / "train.jsonl"), "dev": str(tmp_path / "dev.jsonl")}


def masked_lm_fixture(tmp_path: Path, models: dict[str, Path]) -> tuple[Path, dict]:
    lines = [" ".join(WORDS[(i + k) % 8] for k in range(6)) for i in range(18)]
    for split, part in (("train", lines[:12]), ("dev", lines[12:])):
        (tmp_path / f"{split}.txt").write_text("\n".join(part) + "\n")
    return models["encoder"], {"train": str(tmp_path / "train.txt"), "dev": str(tmp_path / "dev.txt")}


TASK_FIXTURES: dict[str, Callable[[Path, dict[str, Path]], tuple[Path, dict]]] = {
    "sequence-classification": sequence_classification_fixture,
    "token-classification": token_classification_fixture,
    "causal-lm": causal_lm_fixture,
    "question-answering": question_answering_fixture,
    "multiple-choice": multiple_choice_fixture,
    "masked-lm": masked_lm_fixture,
}

# Method options worth running on their own: LoRA's variants are options of the lora method.
METHOD_VARIANTS: dict[str, list[dict]] = {"lora": [{}, {"use_dora": True, "use_rslora": True}]}

# Substrings naming each method's own parameters; everything else is base or head.
METHOD_PARAMETERS = {
    "lora": ("lora_",), "adalora": ("lora_",), "ia3": ("ia3_l",), "prefix-tuning": ("prompt_encoder",),
    "prompt-tuning": ("prompt_encoder",), "p-tuning": ("prompt_encoder",), "bottleneck": ("bottleneck_adapter",),
}


# Methods that train every parameter of the model they build, which has no new head: PET's
# masked LM classifies through its own prediction head.
TRAINS_EVERYTHING = ("full", "pet")


def pairs() -> list:
    found = []
    for task in TASKS.names():
        for method in METHODS.names():
            # A method with a recipe of its own (SetFit) skips this harness's loop: tests/integration/test_fewshot.py.
            if METHODS.get(method).supports(task) and not METHODS.get(method).recipe:
                for options in METHOD_VARIANTS.get(method, [{}]):
                    label = f"{task}-{method}" + "".join(f"-{k}" for k in options)
                    found.append(pytest.param(task, method, options, id=label))
    return found


@pytest.fixture(scope="module")
def models(tiny_bert, tiny_gpt2) -> dict[str, Path]:
    return {"encoder": tiny_bert, "decoder": tiny_gpt2}


def is_method_parameter(method: str, name: str) -> bool:
    if method in TRAINS_EVERYTHING:
        return True
    if method == "bitfit":
        return name.endswith(".bias")
    return any(part in name for part in METHOD_PARAMETERS.get(method, ()))


def is_head_parameter(model, name: str) -> bool:
    """The trained head: peft's trained copy, or a new top-level head module of a plain model."""
    from whet.methods.trainable import head_module_names

    if hasattr(model, "peft_config"):  # peft keeps the untrained head beside the trained copy
        return "modules_to_save" in name
    return name.split(".", 1)[0] in head_module_names(model)


class Spy:
    """Records the model when the optimizer is built (the start) and when it is saved (the end)."""

    def __init__(self, monkeypatch) -> None:
        import whet.models.saved_model
        import whet.training.fit

        self.start: dict[str, torch.Tensor] = {}
        self.model = None
        build, save = whet.training.fit.build_optimizer, whet.models.saved_model.save_model

        def spy_build(model, **kwargs):
            self.start = {n: p.detach().clone() for n, p in model.named_parameters()}
            return build(model, **kwargs)

        def spy_save(path, model, *args, **kwargs):
            self.model = model
            return save(path, model, *args, **kwargs)

        monkeypatch.setattr(whet.training.fit, "build_optimizer", spy_build)
        monkeypatch.setattr(whet.models.saved_model, "save_model", spy_save)


@pytest.fixture
def no_plots(monkeypatch) -> None:
    """Reports are drawn but not rendered to PNG: rendering is most of a tiny run's time, and untested here."""
    import whet.metrics.report_parts

    monkeypatch.setattr(whet.metrics.report_parts, "png_bytes", lambda figure, canvas: b"")


def test_every_registered_task_has_a_fixture_builder():
    missing = [task for task in TASKS.names() if task not in TASK_FIXTURES]
    assert not missing, f"add a fixture builder for {missing} to TASK_FIXTURES in {__file__}"


@pytest.mark.parametrize("task,method,options", pairs())
def test_method_trains_only_its_parameters_and_reloads_identically(task, method, options, models, tmp_path,
                                                                   monkeypatch, no_plots):
    from whet.models.saved_model import load_saved_model
    from whet.train import train

    if task not in TASK_FIXTURES:
        pytest.fail(f"no fixture builder for task {task}; add one to TASK_FIXTURES")
    model_path, data = TASK_FIXTURES[task](tmp_path, models)
    section = METHODS.get(method).section
    unavailable = METHODS.get(method).unavailable
    raw = {"task": task, "model": str(model_path), "data": data,
           "method": {"name": method, **({section: options} if section else {})},
           "training": {"max_steps": 2, "lr": 1e-2, "batch_size": 4, "warmup_ratio": 0, "seed": 1},
           "output": {"dir": str(tmp_path / "run")}}
    if method in ("prefix-tuning", "prompt-tuning", "p-tuning"):
        raw["method"][section] = {"num_virtual_tokens": 4}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(raw))
    why = unavailable(task) if unavailable else None
    if why:  # the installed libraries cannot train this pair: it must be refused before any model loads
        with pytest.raises(ConfigError, match=f"cannot train task '{task}' with the installed libraries: "):
            load_config(tmp_path / "run.yaml")
        return
    spy = Spy(monkeypatch)
    train(load_config(tmp_path / "run.yaml"))
    model = spy.model

    changed = {name for name, p in model.named_parameters() if not torch.equal(spy.start[name], p.detach())}
    unchanged = set(spy.start) - changed
    own = {n for n in spy.start if is_method_parameter(method, n)}
    head = {n for n in spy.start if is_head_parameter(model, n) and n not in own}
    base = set(spy.start) - own - head
    assert not (changed & base), f"frozen weights changed: {sorted(changed & base)[:5]}"
    assert own or method == "frozen", "the method added no parameters"
    assert not (own & unchanged), f"method parameters did not train: {sorted(own & unchanged)[:5]}"
    # A causal LM has no new head: its output layer is pretrained (and often tied to the embeddings).
    has_new_head = TASKS.get(task).peft_task_type != "CAUSAL_LM"
    assert method in TRAINS_EVERYTHING or not has_new_head or head and not (head & unchanged), \
        f"head parameters did not train: {sorted(head & unchanged)[:5]}"

    # The pretrained weights on disk match the frozen ones in memory, bit for bit.
    if method not in (*TRAINS_EVERYTHING, "bitfit"):
        pretrained = load_file(str(model_path / "model.safetensors"))
        checked = 0
        for name, p in model.named_parameters():
            plain = name.removeprefix("base_model.model.").removeprefix("base_model.").replace(".base_layer", "")
            plain = plain.removeprefix(model_prefix(model) + ".")
            if name in base and plain not in pretrained:  # saved with its prefix (e.g. GPT-2's "transformer.")
                plain = f"{model_prefix(model)}.{plain}"
            if name in base and plain in pretrained:
                assert torch.equal(pretrained[plain], p.detach()), name
                checked += 1
        assert checked > 10

    # Saved and loaded again through whet.models.saved_model: the same outputs.
    loaded, _, info = load_saved_model(tmp_path / "run" / "model")
    assert info.adapter == (method not in (*TRAINS_EVERYTHING, "frozen", "bitfit"))
    model.eval()
    with torch.inference_mode():
        expected, got = probe_outputs(model, task), probe_outputs(loaded, task)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def probe_outputs(model, task: str) -> torch.Tensor:
    """The model's outputs on a fixed input: its logits, or a span head's start and end logits."""
    ids = torch.tensor([[5, 20, 30, 40, 50, 60]])  # in every tiny vocabulary
    if task == "multiple-choice":  # (batch, options, tokens)
        ids = torch.stack([ids, ids.flip(-1)], dim=1)
    output = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    return torch.stack([output.start_logits, output.end_logits]) if task == "question-answering" else output.logits


def model_prefix(model) -> str:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.base_model_prefix
