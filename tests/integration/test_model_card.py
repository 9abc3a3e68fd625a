"""Every saved model directory carries a Hugging Face model card (README.md) that the hub's
own parser reads back: base model, library, pipeline tag and the metrics the run reported."""

from __future__ import annotations

import json

import pytest
import yaml
from huggingface_hub import ModelCard

from tests.conftest import write_config
from whet.config import load_config

COLOURS = ["red", "green", "blue"]


def card_metrics(card: ModelCard, split: str) -> dict[str, float]:
    return {result.metric_type: result.metric_value for result in card.data.eval_results
            if result.dataset_split == split}


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory) -> dict:
    """A few LoRA steps from the builtin MiniLM (the base with a hub id), merged too, with dev and test files."""
    import whet.metrics.report_parts
    from whet.train import train

    tmp = tmp_path_factory.mktemp("card")
    rows = [{"text": f"{COLOURS[i % 3]} item {i}", "label": COLOURS[i % 3]} for i in range(18)]
    for split, part in (("train", rows[:12]), ("dev", rows[12:15]), ("test", rows[15:])):
        (tmp / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in part))
    config = write_config(tmp, "colours", {"task": "sequence-classification", "model": "builtin:minilm"}, {
        "data": {split: str(tmp / f"{split}.jsonl") for split in ("train", "dev", "test")},
        "method": {"name": "lora", "lora": {"r": 2}},
        "training": {"max_steps": 3, "batch_size": 4, "seed": 3, "log_every": 1},
        "output": {"dir": str(tmp / "run"), "merge": True}})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(whet.metrics.report_parts, "png_bytes", lambda figure, canvas: b"")  # plots are not under test
        results = train(load_config(config))
    return {"results": results, "run": tmp / "run", "tmp": tmp}


def test_card_metadata_matches_the_run_and_its_dev_report(lora_run):
    run = lora_run["run"]
    card = ModelCard.load(run / "model" / "README.md")
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert card.data.pipeline_tag == "text-classification"
    assert card.data.library_name == "peft"
    assert {"whet", "lora"} <= set(card.data.tags)
    report = json.loads((run / "dev_report.json").read_text())
    dev = card_metrics(card, "dev")
    assert dev["accuracy"] == report["classes"]["accuracy"]
    assert dev["macro_f1"] == report["classes"]["macro"]["f1"]
    assert dev == lora_run["results"]["dev"]
    assert card_metrics(card, "test") == lora_run["results"]["test"]
    assert {result.dataset_name for result in card.data.eval_results} == {"dev.jsonl", "test.jsonl"}


def test_card_body_holds_the_command_config_data_and_figures(lora_run):
    run = lora_run["run"]
    text = ModelCard.load(run / "model" / "README.md").text
    assert "whet train config.yaml" in text
    assert (run / "config.yaml").read_text().strip() in text  # the resolved config, as the run saved it
    train_file = lora_run["tmp"] / "train.jsonl"
    assert f"| train | train.jsonl | 12 | 12 | {train_file.stat().st_size} |" in text
    assert "| optimizer steps | 3 |" in text
    info = json.loads((run / "model" / "whet.json").read_text())
    trainable = info["training"]["parameters"]["trainable"]
    assert 0 < trainable < info["training"]["parameters"]["total"]
    assert f"{trainable:,} of" in text


def test_the_merged_model_has_a_card_of_its_own(lora_run):
    card = ModelCard.load(lora_run["run"] / "model" / "merged" / "README.md")
    assert card.data.library_name == "transformers"
    assert "merged" in card.data.tags
    assert card_metrics(card, "dev") == lora_run["results"]["dev"]
    assert "merged into the base weights" in card.text


def test_an_int8_export_has_a_card_with_the_source_metrics(lora_run, tmp_path):
    from whet.export import export_model

    source = lora_run["run"] / "model"
    output = export_model(source, tmp_path / "int8", quantize="int8")
    card = ModelCard.load(output / "README.md")
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert card.data.library_name is None  # whet's own int8 format
    assert "int8" in card.data.tags
    assert card_metrics(card, "test") == lora_run["results"]["test"]
    assert f"an export of `{source}`" in card.text
    assert "whet train config.yaml" in card.text  # the source's training record travels with it
    assert yaml.safe_load(card.content.split("---")[1])["model-index"][0]["name"] == "int8"
