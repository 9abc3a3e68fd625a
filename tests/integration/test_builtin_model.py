"""The real pretrained MiniLM fine-tunes on the bundled demo data to a score far above chance."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import DEMO
from whet import load
from whet.config import load_config
from whet.train import train


@pytest.mark.slow
def test_builtin_minilm_learns_the_demo_intents(tmp_path):
    raw = {"task": "sequence-classification", "model": "builtin:minilm",
           "data": {"train": str(DEMO / "intents" / "train.jsonl"), "dev": str(DEMO / "intents" / "dev.jsonl")},
           "training": {"epochs": 3, "lr": 1.5e-4, "batch_size": 16, "seed": 1},
           "output": {"dir": str(tmp_path / "run")}}
    path = tmp_path / "intents.yaml"
    path.write_text(yaml.safe_dump(raw))
    results = train(load_config(path))
    assert results["dev"]["accuracy"] >= 0.6  # 10 balanced intents: chance is 0.1
    model = load(str(tmp_path / "run" / "model"))
    [prediction] = model.predict(["Please send 200 dollars to my sister's account"])
    assert prediction["label"] == "transfer_money"
