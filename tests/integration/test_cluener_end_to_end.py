"""CLUENER2020 end to end through the CLI: train a tiny model on a tiny CLUENER file, evaluate
it, and predict on raw Chinese text, written back in CLUENER form with character spans."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tests.conftest import write_config
from tests.in_process import run_whet
from whet.data.ner_jsonl import read_ner_jsonl

# Characters the builtin tokenizer knows (most Chinese characters are [UNK] in it), so that
# the tiny model can tell the names and places apart.
NAMES = ["李明", "王清", "張文", "陳光", "楊秀", "林森"]
PLACES = ["北京", "上海", "東京", "南京", "香港", "山西"]
TEMPLATES = ["{n}去{p}了。", "我和{n}在{p}", "{p}的{n}说"]


def line(template: str, name: str, place: str) -> dict:
    text = template.format(n=name, p=place)
    spans = {"name": {name: [[text.index(name), text.index(name) + len(name) - 1]]},
             "address": {place: [[text.index(place), text.index(place) + len(place) - 1]]}}
    return {"text": text, "label": spans}


def write_json_lines(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def cluener_run(tiny_bert, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluener")
    combos = list(itertools.product(TEMPLATES, NAMES, PLACES))
    # Every name and place is seen in training; dev pairs them in ways training did not.
    train = [line(t, n, p) for i, (t, n, p) in enumerate(combos) if i % 5]
    dev = [line(t, n, p) for i, (t, n, p) in enumerate(combos) if not i % 5]
    raw = {"task": "token-classification", "model": str(tiny_bert),
           "data": {"train": str(write_json_lines(tmp / "train.json", train)),
                    "dev": str(write_json_lines(tmp / "dev.json", dev))},
           "training": {"epochs": 6, "lr": 3e-3, "batch_size": 8, "seed": 7},
           "output": {"dir": str(tmp / "run")}}
    result = run_whet("train", str(write_config(tmp, "cluener", raw, {})))
    assert result.returncode == 0, result.stderr[-2000:]
    return tmp


def test_training_on_cluener_learns_the_entities(cluener_run):
    report = json.loads((cluener_run / "run" / "dev_report.json").read_text(encoding="utf-8"))
    assert set(report["entity"]["per_type"]) == {"address", "name"}
    assert report["entity"]["micro"]["f1"] > 0.5  # an untrained model finds none


def test_eval_reads_a_cluener_file(cluener_run):
    result = run_whet("eval", str(cluener_run / "run" / "model"), str(cluener_run / "dev.json"),
                     "--output", str(cluener_run / "eval"))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((cluener_run / "eval" / "report.json").read_text(encoding="utf-8"))
    assert report["examples"] == len(read_ner_jsonl(cluener_run / "dev.json")) == 22


def test_predict_on_chinese_text_writes_cluener_with_character_spans(cluener_run):
    inputs = write_json_lines(cluener_run / "test.json", [{"id": 0, "text": "我和李明在香港"},
                                                          {"id": 1, "text": "上海的陳光说"}])
    output = cluener_run / "predicted.json"
    result = run_whet("predict", str(cluener_run / "run" / "model"), "--input", str(inputs),
                     "--output", str(output), "--output-format", "cluener")
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(x) for x in output.read_text(encoding="utf-8").splitlines()]
    assert [list(r) for r in records] == [["id", "text", "label"]] * 2 and [r["id"] for r in records] == [0, 1]
    assert records[0]["label"].get("name") == {"李明": [[2, 3]]}
    # Reading the output back checks that every span's text is its mention.
    read_back = read_ner_jsonl(output)
    assert all(len(s.tokens) == len(s.text) for s in read_back)  # one word per character


def test_predict_refuses_an_unknown_output_format(cluener_run):
    result = run_whet("predict", str(cluener_run / "run" / "model"), "李明", "--output-format", "conll")
    assert result.returncode == 2 and "--output-format 'conll': choose whet or cluener" in result.stderr
