"""Augmentation with models: embedding neighbours of a tiny random BERT, back-translation through
a tiny random seq2seq pair, paraphrase through the tiny GPT-2 (the texts are garbage; the
plumbing is what is tested), ``whet augment`` round trips and ``data.augment`` at training time."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import DEMO
from tests.in_process import run_whet
from whet.augment.apply import augment_examples, load_augment_config
from whet.augment.generation import back_translate, paraphrase
from whet.augment.neighbours import embedding_neighbours, whole_words
from whet.cli import app
from whet.config import load_config
from whet.data.examples import TextExample
from whet.data.settings import AugmentConfig
from whet.errors import ConfigError
from whet.tasks.sequence_classification import read_classification_file
from whet.tasks.token_classification import read_ner_file

TEXTS = [TextExample("my card never arrived at home", ["card_arrival"], source="t.csv:2"),
         TextExample("I want to change my pin please", ["change_pin"], source="t.csv:3"),
         TextExample("how do I top up my account", ["top_up"], source="t.csv:4")]


@pytest.fixture(scope="module")
def tiny_seq2seq(tmp_path_factory, tiny_bert):
    """A 1-layer, d_model-32 BART with random weights and the builtin model's WordPiece tokenizer."""
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

    path = tmp_path_factory.mktemp("tiny-bart")
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    tokenizer.save_pretrained(path)
    config = BartConfig(vocab_size=tokenizer.vocab_size, d_model=32, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                        max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
                        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                        decoder_start_token_id=tokenizer.sep_token_id, forced_eos_token_id=None)
    torch.manual_seed(0)
    BartForConditionalGeneration(config).save_pretrained(path)
    return path


def test_whole_words_are_alphabetic_vocabulary_entries_that_tokenise_to_themselves(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    words = whole_words(tokenizer)
    assert "card" in words and "the" not in words and "##ing" not in words and "[CLS]" not in words
    assert all(word.isalpha() and tokenizer.convert_ids_to_tokens(i) == word for word, i in words.items())


def test_neighbours_are_the_nearest_whole_words_by_cosine(tiny_bert):
    import torch
    from transformers import AutoModel, AutoTokenizer

    neighbours = embedding_neighbours(str(tiny_bert), ["Card", "money", "the", "zzzqx", "?"], 5)
    assert set(neighbours) == {"card", "money"}  # stop words, unknown and non-words get none
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    words = whole_words(tokenizer)
    weights = AutoModel.from_pretrained(tiny_bert).get_input_embeddings().weight.detach()
    names = [w for w in words if w != "card"]
    similarity = torch.nn.functional.cosine_similarity(weights[words["card"]][None], weights[[words[n] for n in names]])
    assert neighbours["card"] == [names[i] for i in similarity.topk(5).indices.tolist()]


def test_eda_copies_keep_labels_name_their_source_and_repeat_with_the_seed(tiny_bert):
    settings = AugmentConfig(copies=3, synonym_replacement=0.3)
    out = augment_examples("sequence-classification", TEXTS, settings, model=str(tiny_bert), scheme="iob2", seed=1)
    assert [ex for ex in out if "+aug" not in ex.source] == TEXTS  # originals kept, in order
    for ex in out:
        original = next(o for o in TEXTS if ex.source.startswith(o.source + "+aug") or ex is o)
        assert ex.labels == original.labels
    assert len(out) > len(TEXTS) and all(ex.source.split("+aug")[-1] in "123" for ex in out if "+aug" in ex.source)
    again = augment_examples("sequence-classification", TEXTS, settings, model=str(tiny_bert), scheme="iob2", seed=1)
    other = augment_examples("sequence-classification", TEXTS, settings, model=str(tiny_bert), scheme="iob2", seed=2)
    assert [(e.text, e.source) for e in again] == [(e.text, e.source) for e in out]
    assert [e.text for e in other] != [e.text for e in out]


def test_back_translation_returns_the_copies_of_each_text_and_repeats_with_the_seed(tiny_seq2seq):
    first = back_translate([e.text for e in TEXTS], str(tiny_seq2seq), str(tiny_seq2seq), copies=2, batch_size=2,
                           max_new_tokens=6, seed=0)
    assert len(first) == 3 and all(len(copies) == 2 and all(isinstance(t, str) for t in copies) for copies in first)
    assert first == back_translate([e.text for e in TEXTS], str(tiny_seq2seq), str(tiny_seq2seq), copies=2,
                                   batch_size=2, max_new_tokens=6, seed=0)
    settings = AugmentConfig(method="back-translation", translate_to=str(tiny_seq2seq),
                             translate_back=str(tiny_seq2seq), copies=2, max_new_tokens=6)
    out = augment_examples("sequence-classification", TEXTS, settings, model="unused", scheme="iob2", seed=0)
    copies = [ex for ex in out if "+aug" in ex.source]
    assert copies and all(ex.labels == TEXTS[int(ex.source[6]) - 2].labels for ex in copies)


def test_paraphrase_fills_the_prompt_and_returns_one_line_per_copy(tiny_gpt2):
    replies = paraphrase(["hello world", "red green"], str(tiny_gpt2), "Paraphrase: {text}\nParaphrase:", copies=3,
                         batch_size=4, max_new_tokens=8, seed=0)
    assert len(replies) == 2 and all(len(r) == 3 and all("\n" not in t for t in r) for r in replies)
    assert replies == paraphrase(["hello world", "red green"], str(tiny_gpt2), "Paraphrase: {text}\nParaphrase:",
                                 copies=3, batch_size=4, max_new_tokens=8, seed=0)


# -- whet augment ------------------------------------------------------------------------------
def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("extension", [".csv", ".tsv", ".jsonl"])
def test_cli_writes_classification_data_that_reads_back_with_sources(tiny_bert, tmp_path, extension):
    source = tmp_path / f"train{extension}"
    if extension == ".jsonl":
        source.write_text("".join(json.dumps({"text": e.text, "label": e.labels[0]}) + "\n" for e in TEXTS))
    else:
        sep = "," if extension == ".csv" else "\t"
        source.write_text(f"text{sep}label\n" + "".join(f"{e.text}{sep}{e.labels[0]}\n" for e in TEXTS))
    output = tmp_path / f"out{extension}"
    task = [] if extension == ".csv" else ["--task", "sequence-classification"]  # .tsv and .jsonl may be NER too
    invoke("augment", str(source), "-o", str(output), "--model", str(tiny_bert), "--set", "data.augment.copies=2", *task)
    read = read_classification_file(output)
    assert [e.text for e in read[:1]] == [TEXTS[0].text] and len(read) > len(TEXTS)
    if extension == ".jsonl":
        sources = [json.loads(line)["source"] for line in output.read_text().splitlines()]
    else:
        import csv

        sources = [row["source"] for row in csv.DictReader(output.open(), delimiter="," if extension == ".csv" else "\t")]
    assert sources[0] == f"train{extension}:{1 if extension == '.jsonl' else 2}"
    for example, where in zip(read, sources):
        original = TEXTS[int(where.split(":")[1].split("+")[0]) - (1 if extension == ".jsonl" else 2)]
        assert example.labels == original.labels


def test_cli_writes_conll_in_the_files_scheme_with_valid_tags(tiny_bert, tmp_path):
    source = tmp_path / "train.conll"
    source.write_text((DEMO / "ner" / "train.conll").read_text())
    output = tmp_path / "out.conll"
    invoke("augment", str(source), "-o", str(output), "--model", str(tiny_bert),
           "--set", "data.augment.copies=2", "--set", "data.augment.seed=3")
    original, augmented = read_ner_file(source), read_ner_file(output)
    assert len(original) < len(augmented) <= 3 * len(original)
    first = output.read_text().splitlines()[0].split("\t")
    assert len(first) == 3 and first[1] == "train.conll:1"
    from whet.data.schemes import convert_tags

    assert all(convert_tags(s.tags, "iob2", "iob2") == s.tags for s in augmented)
    again = tmp_path / "again.conll"
    invoke("augment", str(source), "-o", str(again), "--model", str(tiny_bert),
           "--set", "data.augment.copies=2", "--set", "data.augment.seed=3")
    assert again.read_text() == output.read_text()


def test_a_run_config_gives_the_task_model_and_settings(tiny_bert, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"task": "token-classification", "model": str(tiny_bert),
                                      "data": {"train": str(DEMO / "ner" / "train.conll"),
                                               "augment": {"copies": 2, "segment_shuffle": 0.0}}}))
    loaded = load_augment_config(config)
    assert loaded.data.augment.copies == 2 and loaded.model == str(tiny_bert)
    with pytest.raises(ConfigError, match=r"--task sequence-classification: .*run\.yaml is a token-classification config"):
        load_augment_config(config, task="sequence-classification")


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text('{"text": "a", "label": "x"}\n')
    result = run_whet("augment", str(data), "-o", str(tmp_path / "o.jsonl"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {data}: cannot tell the task from the extension '.jsonl'; "
        "pass --task sequence-classification or --task token-classification"]


# -- data.augment at training time -------------------------------------------------------------
def test_data_augment_touches_the_training_split_only(tiny_bert, tmp_path, monkeypatch):
    import whet.augment.apply as apply
    from whet.train import train

    seen = []

    def spy(task, examples, settings, **kwargs):
        out = augment_examples(task, examples, settings, **kwargs)
        seen.append((examples, out))
        return out

    monkeypatch.setattr(apply, "augment_examples", spy)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "task": "sequence-classification", "model": str(tiny_bert),
        "data": {"train": str(DEMO / "intents" / "train.jsonl"), "dev": str(DEMO / "intents" / "dev.jsonl"),
                 "augment": {"copies": 2}},
        "training": {"max_steps": 1, "batch_size": 8}, "output": {"dir": str(tmp_path / "run")}}))
    train(load_config(config))
    assert len(seen) == 1
    given, made = seen[0]
    assert all("train.jsonl:" in ex.source for ex in given) and len(given) == 300
    assert len(made) > len(given)
    assert "augment" in yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["data"]
