"""``method: pet``: a masked LM trained to fill a pattern's mask with the label's word."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import DEMO
from whet import load
from whet.config import load_config
from whet.errors import ConfigError
from whet.train import train

TRAIN, DEV = DEMO / "intents" / "train.jsonl", DEMO / "intents" / "dev.jsonl"
# One WordPiece token each, so the zero-shot MLM mode scores them exactly as PET does.
WORDS = {"change_address": "address", "check_balance": "balance", "close_account": "close", "loan_inquiry": "loan",
         "lost_card": "card", "open_account": "open", "report_fraud": "fraud", "reset_password": "password",
         "talk_to_agent": "agent", "transfer_money": "money"}


@pytest.fixture(scope="module")
def tiny_mlm(tiny_bert, tmp_path_factory) -> Path:
    """The tiny BERT with a masked-LM head, saved, so every load has the same head weights."""
    import torch
    from transformers import AutoTokenizer, BertForMaskedLM

    path = tmp_path_factory.mktemp("tiny-mlm")
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(path)
    torch.manual_seed(2)
    BertForMaskedLM.from_pretrained(tiny_bert).save_pretrained(path)
    return path


def pet_config(tmp_path: Path, model: Path, **pet) -> Path:
    raw = {"task": "sequence-classification", "model": str(model), "data": {"train": str(TRAIN), "dev": str(DEV)},
           "method": {"name": "pet", "pet": pet}, "training": {"max_steps": 4, "lr": 1e-3, "batch_size": 16},
           "output": {"dir": str(tmp_path / "pet")}}
    path = tmp_path / "pet.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_untrained_pattern_classifier_agrees_with_the_zero_shot_mlm_mode(tiny_mlm):
    from whet.models.pattern_model import build_pattern_classifier
    from whet.models.pretrained import load_tokenizer
    from whet.tasks import TASKS
    from whet.zeroshot.labels import LabelsFile
    from whet.zeroshot.run import build_scorer

    labels = sorted(WORDS)
    tokenizer = load_tokenizer(str(tiny_mlm))
    model = build_pattern_classifier(str(tiny_mlm), tokenizer, labels, "{text} Topic: {mask}.", WORDS).eval()
    texts = ["I lost my card yesterday", "how much money do I have"]
    task = TASKS.get("sequence-classification")
    features = [{"input_ids": ids} for ids in tokenizer(texts)["input_ids"]]
    logits = model(**task.collate(features, tokenizer.pad_token_id)).logits.detach().numpy()
    spec = LabelsFile(labels={label: {"verbalizers": [WORDS[label]]} for label in labels}, calibrate=False)
    scorer, mode = build_scorer(spec, model=str(tiny_mlm))
    assert mode == "mlm"  # detected from the masked-LM head
    expected = scorer.score(texts).probabilities
    assert np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True) == pytest.approx(expected, abs=1e-5)


def test_pet_trains_saves_and_predicts_long_texts(tiny_mlm, tmp_path):
    results = train(load_config(pet_config(tmp_path, tiny_mlm, verbalizers={"lost_card": "card"})))
    model_dir = tmp_path / "pet" / "model"
    files = {p.name for p in model_dir.iterdir()}
    assert {"pattern.json", "model.safetensors", "whet.json"} <= files and not [f for f in files if f.endswith(".bin")]
    assert json.loads((model_dir / "pattern.json").read_text()) == {"pattern": "{text} Topic: {mask}.",
                                                                     "verbalizers": {"lost_card": "card"}}
    info = json.loads((model_dir / "whet.json").read_text())
    # The pattern around the text ("topic : [MASK] ... ."), one mask per token of the longest label
    # word ("talk to agent" and the like), takes part of the model's 128 positions.
    from whet.models.pretrained import load_tokenizer
    from whet.zeroshot.labels import readable

    tokenizer = load_tokenizer(str(tiny_mlm))
    masks = max(len(tokenizer(readable(label), add_special_tokens=False)["input_ids"]) for label in info["labels"])
    assert (info["method"], info["max_length"]) == ("pet", 128 - (3 + masks))
    model = load(str(model_dir))
    assert model.evaluate(str(DEV))["classes"]["accuracy"] == pytest.approx(results["dev"]["accuracy"])
    [long] = model.predict(["my card is lost " * 60])  # ~240 tokens: two windows, each with the pattern
    assert long["label"] in model.labels and sum(long["probabilities"].values()) == pytest.approx(1, abs=1e-3)


@pytest.mark.parametrize("pet, message", [
    ({"verbalizers": {"lost_cards": "card"}}, r"method\.pet\.verbalizers: lost_cards not among the training labels"),
    ({"pattern": "{text} is about it."}, r"method\.pet\.pattern '\{text\} is about it\.' needs \{text\} and \{mask\}"),
])
def test_pet_settings_errors_name_the_key(pet, message, tiny_mlm, tmp_path):
    with pytest.raises(ConfigError, match=message):
        train(load_config(pet_config(tmp_path, tiny_mlm, **pet)))
