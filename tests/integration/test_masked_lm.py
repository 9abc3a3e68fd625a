"""Masked-LM domain adaptation on a tiny random BERT without an MLM head: reading texts, whole-word
masking, the new head tied to the embeddings, and the adapted encoder fine-tuned by a later run."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from tests.conftest import write_config
from tests.integration.test_cli_errors import run_all
from whet.config import load_config
from whet.data.examples import TextExample
from whet.data.settings import DataConfig
from whet.errors import DataError, ModelError
from whet.tasks.padding import pad
from whet.tasks.masked_lm import IGNORE, encode, read_texts, training_collate
from whet.train import train

# Words the builtin tokenizer cuts into several pieces (elcoteq: el ##cote ##q), and plain ones.
TEXTS = ["Elcoteq laid off tens of employees in Tallinn", "Basware targets net sales growth",
         "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn", "Nokia and Ericsson shares fell",
         "The company reported its quarterly earnings"] * 4


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tokenizer(tiny_bert: Path):
    from whet.models.pretrained import load_tokenizer

    return load_tokenizer(str(tiny_bert))


def word_groups(feature: dict) -> list[list[int]]:
    """Token positions of each whitespace-separated word, from the offsets (special tokens left out)."""
    groups: list[list[int]] = []
    previous_end = None
    for position, ((start, end), special) in enumerate(zip(feature["offset_mapping"], feature["special_tokens_mask"])):
        if special:
            previous_end = None
            continue
        if previous_end is None or start != previous_end:
            groups.append([])
        groups[-1].append(position)
        previous_end = end
    return groups


def masked_states(features: list[dict], labels: torch.Tensor) -> list[list[bool]]:
    """Per word of every feature: which of its tokens are masked (labelled)."""
    return [[bool(labels[row, position] != IGNORE) for position in group]
            for row, feature in enumerate(features) for group in word_groups(feature)]


def test_whole_words_are_masked_together(tokenizer) -> None:
    data = DataConfig(mlm_probability=0.4)
    features = encode([TextExample(text=t, labels=[]) for t in TEXTS], tokenizer, [], 64, 0, data)
    assert any(len(group) > 1 for group in word_groups(features[0]))  # the test needs words of several pieces
    collate = training_collate(tokenizer, data, tokenizer.pad_token_id)
    torch.manual_seed(0)
    words = []
    for _ in range(20):
        batch = collate(features)
        for state in masked_states(features, batch["labels"]):
            assert all(state) or not any(state), "a word was masked in part"
            words.append(all(state))
        # Whole words are replaced by [MASK] wherever they are labelled; elsewhere the input is untouched.
        chosen = batch["labels"] != IGNORE
        assert bool((batch["input_ids"][chosen] == tokenizer.mask_token_id).all())
        source = pad([f["source_ids"] for f in features], tokenizer.pad_token_id)
        assert torch.equal(batch["input_ids"][~chosen], source[~chosen])
    assert 0.3 < sum(words) / len(words) < 0.5  # about mlm_probability of the words


def test_token_masking_cuts_words_when_whole_word_mask_is_off(tokenizer) -> None:
    data = DataConfig(mlm_probability=0.4, whole_word_mask=False)
    features = encode([TextExample(text=t, labels=[]) for t in TEXTS], tokenizer, [], 64, 0, data)
    collate = training_collate(tokenizer, data, tokenizer.pad_token_id)
    torch.manual_seed(0)
    states = [s for _ in range(20) for s in masked_states(features, collate(features)["labels"])]
    assert any(any(s) and not all(s) for s in states)


def test_dev_masks_are_fixed_and_training_masks_drawn_anew(tokenizer) -> None:
    data = DataConfig()
    examples = [TextExample(text=t, labels=[]) for t in TEXTS]
    first, second = (encode(examples, tokenizer, [], 64, 0, data) for _ in range(2))
    assert [f["labels"] for f in first] == [f["labels"] for f in second]
    assert [f["input_ids"] for f in first] == [f["input_ids"] for f in second]
    assert sum(label != IGNORE for f in first for label in f["labels"]) > 0
    collate = training_collate(tokenizer, data, tokenizer.pad_token_id)
    assert not torch.equal(collate(first)["labels"], collate(first)["labels"])


def test_long_texts_become_windows_that_do_not_overlap(tokenizer) -> None:
    text = " ".join(f"word{i}" for i in range(200))
    features = encode([TextExample(text=text, labels=[])], tokenizer, [], 32, 16, DataConfig())
    assert len(features) > 1 and {f["example"] for f in features} == {0}
    starts = [next(s for s, e in f["offset_mapping"] if e) for f in features]
    ends = [max(e for _, e in f["offset_mapping"]) for f in features]
    assert all(end <= start for end, start in zip(ends, starts[1:]))


def test_reads_text_lines_and_a_text_column(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("first text\n\n  \nsecond text\n", encoding="utf-8")
    texts = read_texts(tmp_path / "a.txt")
    assert [t.text for t in texts] == ["first text", "second text"]
    assert texts[1].source.endswith("a.txt:4")
    (tmp_path / "a.csv").write_text("id,body\n1,hello there\n2,general kenobi\n", encoding="utf-8")
    assert [t.text for t in read_texts(tmp_path / "a.csv", text_column="body")] == ["hello there", "general kenobi"]
    with pytest.raises(DataError, match="no column 'text'.*data.text_column"):
        read_texts(tmp_path / "a.csv")
    with pytest.raises(DataError, match="data.format 'conll' is not a masked-lm format"):
        read_texts(tmp_path / "a.txt", format="conll")


def test_a_tokenizer_without_a_mask_token_is_refused(tiny_gpt2: Path) -> None:
    from whet.config import MethodConfig
    from whet.tasks import TASKS
    from whet.training.setup import load_tokenizer_and_window

    with pytest.raises(ModelError, match="no mask token"):
        load_tokenizer_and_window(str(tiny_gpt2), TASKS.get("masked-lm"), DataConfig(), MethodConfig())


@pytest.fixture(scope="module")
def adapted(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny BERT trained as a masked LM on the texts (a few seconds)."""
    tmp = tmp_path_factory.mktemp("mlm")
    (tmp / "train.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    (tmp / "dev.txt").write_text("\n".join(TEXTS[:5]) + "\n", encoding="utf-8")
    raw = {"task": "masked-lm", "model": str(tiny_bert),
           "data": {"train": str(tmp / "train.txt"), "dev": str(tmp / "dev.txt"), "mlm_probability": 0.3},
           "training": {"max_steps": 150, "eval_every": 75, "lr": 2e-2, "warmup_ratio": 0.0, "batch_size": 8,
                        "seed": 0},
           "output": {"dir": str(tmp / "run")}}
    config = write_config(tmp, "mlm", raw, {})
    logger = logging.getLogger("whet")
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        results = train(load_config(config))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return {"dir": tmp, "config": config, "results": results, "model": tmp / "run" / "model", "log": records}


def test_a_checkpoint_without_mlm_head_gets_a_new_head_tied_to_the_embeddings(adapted: dict) -> None:
    new = next(line for line in adapted["log"] if "newly initialised" in line)
    for weight in ("cls.predictions.transform.dense.weight", "cls.predictions.transform.LayerNorm.weight",
                   "cls.predictions.bias"):
        assert weight in new
    assert "bert.embeddings" not in new and "encoder.layer" not in new  # the body is pretrained
    assert any("tied to the input embeddings" in line for line in adapted["log"])
    from transformers import AutoModelForMaskedLM

    saved = AutoModelForMaskedLM.from_pretrained(adapted["model"])
    assert saved.cls.predictions.decoder.weight is saved.bert.embeddings.word_embeddings.weight


def test_masked_lm_training_lowers_the_dev_loss(adapted: dict) -> None:
    import math

    results = adapted["results"]
    # A random model's loss is about ln(vocabulary) = 10.3; 150 steps on five sentences bring it to about 4.5.
    assert results["dev"]["loss"] < 6.0
    assert results["dev"]["perplexity"] == pytest.approx(math.exp(results["dev"]["loss"]))
    assert 0.0 <= results["dev"]["accuracy"] <= 1.0


def test_the_adapted_encoder_is_the_model_of_a_classification_run(adapted: dict, tmp_path: Path) -> None:
    from transformers import AutoModelForMaskedLM

    from whet.tasks import TASKS
    from whet.training.setup import build_model

    classifier = build_model(str(adapted["model"]), TASKS.get("sequence-classification"), ["neg", "pos"],
                             DataConfig())
    mlm = AutoModelForMaskedLM.from_pretrained(adapted["model"])
    body = {name: value for name, value in mlm.state_dict().items() if name.startswith("bert.")}
    loaded = classifier.state_dict()
    assert body and all(torch.equal(loaded[name], value) for name, value in body.items())
    assert not any(name.startswith("cls.") for name in loaded)

    rows = "".join(f'{{"text": "{t}", "label": "{"pos" if i % 2 else "neg"}"}}\n' for i, t in enumerate(TEXTS))
    (tmp_path / "train.jsonl").write_text(rows, encoding="utf-8")
    raw = {"task": "sequence-classification", "model": str(adapted["model"]),
           "data": {"train": str(tmp_path / "train.jsonl"), "dev": str(tmp_path / "train.jsonl")},
           "training": {"max_steps": 4, "batch_size": 8, "seed": 0}, "output": {"dir": str(tmp_path / "run")}}
    results = train(load_config(write_config(tmp_path, "classify", raw, {})))
    assert 0.0 <= results["dev"]["accuracy"] <= 1.0
    assert (tmp_path / "run" / "model" / "config.json").is_file()


def test_whet_validate_and_eval_take_a_masked_lm_and_predict_refuses_it(adapted: dict) -> None:
    done = run_all({"validate": ["validate", str(adapted["config"])],
                    "eval": ["eval", str(adapted["model"]), str(adapted["dir"] / "dev.txt")],
                    "predict": ["predict", str(adapted["model"]), "a text"]},
                   cwd=adapted["dir"])
    assert done["validate"].returncode == 0, done["validate"].stderr
    assert done["eval"].returncode == 0, done["eval"].stderr
    assert "perplexity" in done["eval"].stdout
    assert done["predict"].returncode == 2
    assert "error: a masked-lm model is an adapted encoder, not a predictor" in done["predict"].stderr
    assert "Traceback" not in done["predict"].stderr
