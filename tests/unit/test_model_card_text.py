"""The model card builder on hand-made model records: metadata the hub reads, and the body."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import ModelCard

from whet.training.loop import LoopState
from whet.models.model_card import (base_model_id, data_files, file_size, library_of, model_card, training_figures,
                             training_record, write_model_card)
from whet.models.saved_model import ModelInfo


def model_info(tmp_path: Path, **changes) -> ModelInfo:
    """A LoRA intent classifier trained on two files written under ``tmp_path``."""
    (tmp_path / "intents-train.jsonl").write_text('{"text": "hi", "label": "greet"}\n' * 40)
    (tmp_path / "intents-dev.csv").write_text("text,label\nhi,greet\nbye,leave")  # no final newline
    files = {"train": str(tmp_path / "intents-train.jsonl"), "dev": str(tmp_path / "intents-dev.csv")}
    state = LoopState(epoch=2, step=30, best_step=20, history=[
        {"step": 10, "epoch": 1.0, "train_loss": 0.9}, {"step": 20, "epoch": 2.0, "dev_accuracy": 0.5},
        {"step": 30, "epoch": 2.0, "train_loss": 0.25}])
    record = training_record(command="whet train config.yaml", config={"task": "sequence-classification",
                                                                       "data": files},
                             data=data_files(SimpleNamespace(test=None, **files),
                                             SimpleNamespace(train=[{}] * 40, dev=[{}] * 2, test=None)),
                             figures=training_figures(state, seconds=12.34), parameters=(1_500, 100_000))
    fields = {"task": "sequence-classification", "labels": ["greet", "leave"], "base_model": "builtin:minilm",
              "method": "lora", "data": {"train": files["train"], "dev": files["dev"]}, "max_length": 128,
              "metrics": {"best_step": 20, "dev": {"accuracy": 0.5, "macro_f1": 0.3333}}, "whet_version": "0.1.0",
              "training": record}
    return ModelInfo(**{**fields, **changes})


def test_body_names_the_data_files_with_their_sizes_the_command_and_figures(tmp_path):
    text = model_card(model_info(tmp_path), name="intents", library_name="peft").text
    train_bytes = (tmp_path / "intents-train.jsonl").stat().st_size
    assert f"| train | intents-train.jsonl | 40 | 40 | {train_bytes} |" in text
    assert "| dev | intents-dev.csv | 2 | 3 | 29 |" in text
    assert "```bash\nwhet train config.yaml\n```" in text
    assert "task: sequence-classification" in text  # the config
    assert "| final training loss | 0.25 |" in text and "| training time (s) | 12.3 |" in text
    assert "| step of the saved weights | 20 |" in text and "| epochs | 2 |" in text
    assert "1,500 of 100,000 (1.50%)" in text
    assert "`greet`, `leave`" in text
    assert "| accuracy | 0.5000 |" in text


def test_metadata_reads_back_through_huggingface_hub(tmp_path):
    directory = tmp_path / "model"
    directory.mkdir()
    (directory / "adapter_config.json").write_text("{}")
    write_model_card(directory, model_info(tmp_path), name="intents")
    card = ModelCard.load(directory / "README.md")
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert (card.data.library_name, card.data.pipeline_tag) == ("peft", "text-classification")
    assert card.data.tags == ["whet", "lora"]
    [accuracy, macro_f1] = card.data.eval_results
    assert (accuracy.metric_type, accuracy.metric_value, accuracy.dataset_name) == ("accuracy", 0.5, "intents-dev.csv")
    assert (macro_f1.dataset_split, macro_f1.metric_value) == ("dev", 0.3333)


def test_a_dev_set_held_out_of_train_is_named_after_train(tmp_path):
    info = model_info(tmp_path)
    info.training["data"] = data_files(SimpleNamespace(train=info.data["train"], dev=None, test=None),
                                       SimpleNamespace(train=[{}] * 36, dev=[{}] * 4, test=None), dev_split=0.1)
    card = model_card(info, name="intents", library_name=None)
    assert card.data.eval_results[0].dataset_name == "intents-train.jsonl (10% held out as dev)"
    assert "| dev | intents-train.jsonl (10% held out as dev) | 4 |  |  |" in card.text


def test_multiple_choice_has_no_pipeline_tag_but_names_its_task_in_results(tmp_path):
    card = model_card(model_info(tmp_path, task="multiple-choice", labels=[]), name="mc", library_name="transformers")
    assert card.data.pipeline_tag is None
    assert card.data.eval_results[0].task_type == "multiple-choice"


def test_a_model_without_a_training_record_or_metrics_still_gets_a_card(tmp_path):
    card = model_card(model_info(tmp_path, training=None, metrics={}), name="old", library_name="transformers")
    assert card.data.eval_results is None
    assert "not recorded" in card.text and "No evaluation is recorded." in card.text


@pytest.mark.parametrize("name, expected", [
    ("builtin:minilm", "sentence-transformers/all-MiniLM-L6-v2"),
    ("bert-base-cased", "bert-base-cased"),
    ("FacebookAI/roberta-base", "FacebookAI/roberta-base"),
    ("./models/bert", None),  # a path is no hub id: the hub would refuse it as base_model
])
def test_base_model_is_a_hub_id_or_nothing(name, expected):
    assert base_model_id(name) == expected


def test_base_model_of_a_whet_model_directory_is_the_model_it_was_trained_from(tmp_path):
    assert base_model_id(str(tmp_path)) is None  # an existing local directory
    (tmp_path / "whet.json").write_text(json.dumps({"base_model": "builtin:minilm"}))
    assert base_model_id(str(tmp_path)) == "sentence-transformers/all-MiniLM-L6-v2"


@pytest.mark.parametrize("files, changes, expected", [
    (["config.json"], {}, "transformers"),
    (["adapter_config.json"], {"adapter": True}, "peft"),
    (["bottleneck_config.json"], {"adapter": True}, None),  # only whet loads bottleneck adapters
    (["modules.json"], {}, "sentence-transformers"),
    (["config.json"], {"quantization": {"scheme": "int8"}}, None),
    (["config.json"], {"onnx": {"file": "model.onnx"}}, None),
])
def test_library_name_is_the_library_that_loads_the_directory(tmp_path, files, changes, expected):
    for file in files:
        (tmp_path / file).write_text("{}")
    assert library_of(tmp_path, model_info(tmp_path, **changes)) == expected


def test_file_size_counts_a_last_line_without_newline(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"one\ntwo")
    (tmp_path / "b.txt").write_bytes(b"")
    assert file_size(tmp_path / "a.txt") == {"lines": 2, "bytes": 7}
    assert file_size(tmp_path / "b.txt") == {"lines": 0, "bytes": 0}
    assert file_size(tmp_path / "gone.txt") == {}
