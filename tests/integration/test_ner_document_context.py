"""Training, evaluating and predicting NER with document context, end to end on a tiny BERT."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import DEMO, write_config
from whet import load
from whet.config import load_config
from whet.train import train


def with_documents(source: Path, target: Path, every: int) -> Path:
    """The CoNLL file with a -DOCSTART- line before every ``every`` sentences."""
    sentences = source.read_text().strip().split("\n\n")
    lines = []
    for n, sentence in enumerate(sentences):
        if n % every == 0:
            lines.append("-DOCSTART- -X- -X- O\n")
        lines.append(sentence + "\n")
    target.write_text("\n".join(lines))
    return target


@pytest.fixture(scope="module")
def context_run(tiny_bert, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("context")
    train_file = with_documents(DEMO / "ner" / "train.conll", tmp_path / "train.conll", every=6)
    dev_file = with_documents(DEMO / "ner" / "dev.conll", tmp_path / "dev.conll", every=6)
    raw = {"task": "token-classification", "model": str(tiny_bert),
           "data": {"train": str(train_file), "dev": str(dev_file), "context": "document", "context_tokens": 16},
           "training": {"epochs": 3, "lr": 3e-3, "batch_size": 16, "seed": 7},
           "output": {"dir": str(tmp_path / "run")}}
    results = train(load_config(write_config(tmp_path, "context", raw, {})))
    return results, tmp_path / "run", dev_file


def test_trains_on_passages_and_learns_entities(context_run):
    results, run_dir, _ = context_run
    assert results["dev"]["f1"] > 0.2  # far above an untrained model's 0.0
    saved = json.loads((run_dir / "model" / "whet.json").read_text())
    assert saved["data"]["context"] == "document" and saved["data"]["context_tokens"] == 16


def test_eval_of_the_saved_model_reads_context_as_training_did(context_run):
    results, run_dir, dev_file = context_run
    report = load(str(run_dir / "model")).evaluate(str(dev_file))
    assert report["entity"]["micro"]["f1"] == pytest.approx(results["dev"]["f1"], abs=1e-9)


def test_records_of_one_document_are_predicted_with_each_others_context(context_run):
    _, run_dir, _ = context_run
    predictor = load(str(run_dir / "model"))
    texts = ["I spoke with Kenji Martin", "He flew to Lisbon on Monday", "Then he met Ana Silva"]
    alone = predictor.predict(texts)
    together = predictor.predict([{"text": t, "document": "d"} for t in texts])
    assert [p["tokens"] for p in alone] == [p["tokens"] for p in together]
    assert any(p["entities"] for p in alone)
    # the same words, but encoded with their neighbours: the entity scores move
    assert alone != together
