"""Merging adapters into the base weights (``whet export --merge``) and adapter stores
(several named adapters on one base)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.integration.test_cli_errors import run_all
from tests.integration.test_methods import sequence_classification_fixture
from whet import load
from whet.adapters import add_adapter, check_adapter_name, list_adapters, load_adapters
from whet.config import load_config
from whet.errors import ModelError
from whet.export import export_model
from whet.methods.merging import merge_adapter
from whet.models.saved_model import load_saved_model

TEXTS = ["alpha bravo item 1", "golf hotel item 7", "delta echo item 30"]


def train_run(tmp_path: Path, name: str, model: Path, data: dict, method: dict) -> Path:
    import whet.metrics.report_parts
    from whet.train import train

    raw = {"task": "sequence-classification", "model": str(model), "data": data, "method": method,
           "training": {"max_steps": 4, "lr": 1e-2, "batch_size": 4, "warmup_ratio": 0, "seed": 2},
           "output": {"dir": str(tmp_path / name)}}
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(raw))
    png = whet.metrics.report_parts.png_bytes
    whet.metrics.report_parts.png_bytes = lambda figure, canvas: b""  # plots are not under test; rendering is slow
    try:
        train(load_config(tmp_path / f"{name}.yaml"))
    finally:
        whet.metrics.report_parts.png_bytes = png
    return tmp_path / name / "model"


@pytest.fixture(scope="module")
def runs(tiny_bert, tmp_path_factory) -> dict[str, Path]:
    tmp_path = tmp_path_factory.mktemp("export")
    _, colours = sequence_classification_fixture(tmp_path, {"encoder": tiny_bert})
    rows = [{"text": f"item {i} " + ("yes please" if i % 2 else "no thanks"), "label": "yes" if i % 2 else "no"}
            for i in range(12)]
    (tmp_path / "yesno.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    yesno = {"train": str(tmp_path / "yesno.jsonl"), "dev": str(tmp_path / "yesno.jsonl")}
    methods = {
        "lora": {"name": "lora", "lora": {"r": 4, "use_dora": True, "use_rslora": True}},
        "adalora": {"name": "adalora", "adalora": {"init_r": 4, "target_r": 2, "delta_t": 1}},
        "ia3": {"name": "ia3"},
        "prompt-tuning": {"name": "prompt-tuning", "prompt_tuning": {"num_virtual_tokens": 4}},
    }
    found = {name: train_run(tmp_path, name, tiny_bert, colours, method) for name, method in methods.items()}
    found["bottleneck-yesno"] = train_run(tmp_path, "bottleneck-yesno", tiny_bert, yesno,
                                          {"name": "bottleneck", "bottleneck": {"size": 8}})
    found["tmp"] = tmp_path
    return found


def logits(model, tokenizer) -> torch.Tensor:
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


@pytest.mark.parametrize("method", ["lora", "adalora", "ia3"])
def test_merged_model_gives_the_adapter_models_outputs(runs, method, tmp_path):
    from transformers import AutoModelForSequenceClassification

    merged_dir = export_model(runs[method], tmp_path / "merged", merge=True)
    assert (merged_dir / "model.safetensors").is_file() and not (merged_dir / "adapter_config.json").exists()
    info = json.loads((merged_dir / "whet.json").read_text())
    assert info["adapter"] is False and info["method"] == method and info["labels"] == ["blue", "green", "red"]

    adapter_model, tokenizer, _ = load_saved_model(runs[method])
    merged_model, _, merged_info = load_saved_model(merged_dir)
    assert not merged_info.adapter
    expected = logits(adapter_model, tokenizer)
    torch.testing.assert_close(logits(merged_model, tokenizer), expected, rtol=0, atol=1e-4)
    # A plain transformers model, loadable without whet or peft.
    plain = AutoModelForSequenceClassification.from_pretrained(merged_dir).eval()
    torch.testing.assert_close(logits(plain, tokenizer), expected, rtol=0, atol=1e-4)
    assert expected.abs().max() > 0.01  # a head that learned something, not all zeros


def test_adalora_allocates_ranks_during_training(runs):
    # update_and_allocate ran after each step: ranks were pruned below init_r and the pattern saved.
    pattern = json.loads((runs["adalora"] / "adapter_config.json").read_text())["rank_pattern"]
    assert pattern and len(pattern) == 4  # query and value of 2 layers
    kept = [sum(mask) for mask in pattern.values()]
    assert all(len(mask) == 4 for mask in pattern.values()) and sum(kept) < 4 * 4


@pytest.mark.parametrize("method", ["prompt-tuning", "bottleneck-yesno"])
def test_merging_is_refused_for_methods_that_add_inputs_or_layers(runs, method, tmp_path):
    with pytest.raises(ModelError, match=r"method '(prompt-tuning|bottleneck)' cannot be merged into the base "
                                         r"weights .*; merging works for lora, adalora, ia3"):
        export_model(runs[method], tmp_path / "out", merge=True)
    assert not (tmp_path / "out").exists()


def test_merging_a_full_model_is_refused():
    with pytest.raises(ModelError, match="holds no adapter to merge; it already is a full model"):
        merge_adapter(torch.nn.Linear(2, 2), "full")


def test_export_never_overwrites(runs, tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(ModelError, match="taken already exists; choose a new --output directory"):
        export_model(runs["lora"], tmp_path / "taken", merge=True)


@pytest.fixture(scope="module")
def store(runs) -> Path:
    path = runs["tmp"] / "store"
    add_adapter(path, "colours", runs["lora"])
    add_adapter(path, "yesno", runs["bottleneck-yesno"])
    return path


def test_two_adapters_on_one_base_each_give_their_own_predictions(runs, store):
    assert list_adapters(store) == ["colours", "yesno"]
    assert (store / "base" / "model.safetensors").is_file()
    assert not any((store / "adapters").rglob("model.safetensors"))  # adapters hold no base weights
    for name, run in (("colours", runs["lora"]), ("yesno", runs["bottleneck-yesno"])):
        alone, stored = load(str(run)).predict(TEXTS), load(str(store), adapter=name).predict(TEXTS)
        assert [p["label"] for p in stored] == [p["label"] for p in alone]
        for a, b in zip(alone, stored):
            assert set(b["probabilities"]) == ({"blue", "green", "red"} if name == "colours" else {"no", "yes"})
            assert b["probabilities"] == pytest.approx(a["probabilities"], abs=1e-6)

    # Loaded together, the adapters share one copy of the base weights and still answer alike.
    predictors = load_adapters(store)
    colours, yesno = predictors["colours"].model, predictors["yesno"].model
    shared = "bert.embeddings.word_embeddings.weight"
    colour_weight = colours.get_base_model().get_parameter(shared)
    assert colour_weight.data_ptr() == yesno.get_parameter(shared).data_ptr()
    assert predictors["yesno"].predict(TEXTS) == load(str(runs["bottleneck-yesno"])).predict(TEXTS)
    assert [p["label"] for p in predictors["colours"].predict(TEXTS)] == \
        [p["label"] for p in load(str(runs["lora"])).predict(TEXTS)]


def test_a_store_refuses_bad_names_other_bases_and_duplicates(runs, store, tmp_path):
    for bad in ("../base", ".hidden", "a/b", "", "naïve"):
        with pytest.raises(ModelError, match="is not allowed; use letters, digits"):
            check_adapter_name(bad)
    assert check_adapter_name("intents_v2.1-x") == "intents_v2.1-x"
    with pytest.raises(ModelError, match=r"adapter name '\.\./base' is not allowed"):
        load_saved_model(store, adapter="../base")
    with pytest.raises(ModelError, match=r"no adapter 'sizes' in .*; it has: colours, yesno"):
        load_saved_model(store, adapter="sizes")
    with pytest.raises(ModelError, match="holds named adapters; choose one"):
        load_saved_model(store)
    with pytest.raises(ModelError, match="already has an adapter 'colours'"):
        add_adapter(store, "colours", runs["ia3"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text("{}")
    moved = tmp_path / "moved"
    import shutil

    shutil.copytree(runs["ia3"], moved)
    info = json.loads((moved / "whet.json").read_text())
    (moved / "whet.json").write_text(json.dumps({**info, "base_model": str(other)}))
    with pytest.raises(ModelError, match="was trained on .*other, but the adapters in .* share"):
        add_adapter(store, "elsewhere", moved)


def test_cli_exports_store_adapters_lists_them_and_refuses_merges(store, tmp_path):
    # One command that loads weights (torch imports take seconds); the others answer before loading any.
    results = run_all({
        "export": ["export", str(store), "--adapter", "yesno", "--output", str(tmp_path / "yesno")],
        "list": ["adapters", "list", str(store)],
        "refused": ["export", str(store), "--adapter", "yesno", "--merge", "--output", str(tmp_path / "no")],
    }, cwd=tmp_path)
    assert results["export"].returncode == 0, results["export"].stderr
    standalone = tmp_path / "yesno"
    assert (standalone / "bottleneck_model.safetensors").is_file()
    assert load(str(standalone)).predict(TEXTS) == load(str(store), adapter="yesno").predict(TEXTS)
    assert results["list"].stdout.split() == ["colours", "yesno"]
    refused = results["refused"]
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("error: method 'bottleneck' cannot be merged")
    assert not (tmp_path / "no").exists()
