"""Causal LM fine-tuning and generation on a tiny random GPT-2: learning a pattern and
reproducing it with ``whet generate``, packing isolation, LoRA, decoding options, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from tests.conftest import CHATML, write_config
from tests.integration.test_cli_errors import assert_no_traceback, run_all
from whet.config import load_config
from whet.errors import ConfigError, DataError, ModelError
from whet.generate import (MIN_TEMPERATURE, SEED_MAX, SEED_MIN, GenerationSettings, complete, generate,
                           generate_stream, load_generator)
from whet.train import train

PATTERNS = {"count:": " one two three four", "letters:": " a b c d", "colors:": " red green blue"}


def write_jsonl(path: Path, rows: list) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def run_config(tmp: Path, name: str, model: Path, data: dict, **sections) -> Path:
    raw = {"task": "causal-lm", "model": str(model), "data": data,
           "training": {"epochs": 1000, "lr": 1e-2, "batch_size": 8, "warmup_ratio": 0.0, "seed": 0},
           "output": {"dir": str(tmp / name)}}
    return write_config(tmp, name, raw, sections)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def pattern_run(tiny_gpt2: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The tiny GPT-2 fine-tuned on three prompt/response patterns (a few seconds)."""
    tmp = tmp_path_factory.mktemp("pattern")
    rows = [{"prompt": p, "response": r} for p, r in PATTERNS.items()] * 8
    data = {"train": write_jsonl(tmp / "train.jsonl", rows), "dev": write_jsonl(tmp / "dev.jsonl", rows[:3])}
    config = run_config(tmp, "run", tiny_gpt2, data, training={"max_steps": 120, "eval_every": 1000},
                        eval={"generate": True, "max_new_tokens": 8})
    results = train(load_config(config))
    return {"dir": tmp, "model": tmp / "run" / "model", "results": results}


@pytest.fixture(scope="module")
def generator(pattern_run: dict) -> tuple:
    return load_generator(pattern_run["model"])


def test_training_learns_the_pattern_and_scores_generated_replies(pattern_run):
    dev = pattern_run["results"]["dev"]
    assert dev["loss"] < 0.1 and dev["perplexity"] == pytest.approx(torch.tensor(dev["loss"]).exp().item())
    assert dev["exact_match"] == 1.0 and dev["rouge_l"] == 1.0
    report = json.loads((pattern_run["dir"] / "run" / "dev_report.json").read_text())
    assert report["samples"][0] == {"prompt": "count:", "reference": " one two three four",
                                    "generated": " one two three four"}
    assert "| perplexity |" in (pattern_run["dir"] / "run" / "dev_report.md").read_text()


@pytest.fixture(scope="module")
def cli(pattern_run: dict, tiny_gpt2: Path) -> dict:
    """The real ``whet`` commands, run concurrently: generation with the trained model, and bad input."""
    model, tmp = str(pattern_run["model"]), pattern_run["dir"]
    (tmp / "prompts.txt").write_text("letters:\ncolors:\n", encoding="utf-8")
    chats = write_jsonl(tmp / "chats.jsonl", [{"messages": [{"role": "user", "content": "hi"}]}])
    return run_all({
        # 40 new tokens allowed: the reply is 4 words, so only the EOS can end it there.
        "one": ["generate", model, "count:", "--max-new-tokens", "40"],
        "file": ["generate", model, "--input", str(tmp / "prompts.txt"), "--output", str(tmp / "out.jsonl"),
                 "--max-new-tokens", "40"],
        "chat without template": ["generate", str(tiny_gpt2), "--input", chats],
    }, cwd=tmp)


def test_whet_generate_reproduces_the_pattern_and_stops_at_eos(cli, pattern_run):
    for name in ("one", "file"):
        assert cli[name].returncode == 0, cli[name].stderr
    assert cli["one"].stdout == " one two three four\n"
    lines = [json.loads(line) for line in (pattern_run["dir"] / "out.jsonl").read_text().splitlines()]
    assert lines == [{"prompt": "letters:", "generated": " a b c d"}, {"prompt": "colors:", "generated": " red green blue"}]


def test_a_chat_for_a_model_without_template_gives_one_error_line(cli):
    result = cli["chat without template"]
    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]  # after the progress bar
    assert len(errors) == 1, result.stderr
    assert re.match(r"error: \S*chats\.jsonl:1: 'messages' need a chat template and this model's tokenizer has "
                    r"none; give plain-text prompts, or use a model whose tokenizer has one", errors[0]), errors[0]


def test_batched_left_padded_generation_equals_one_by_one(generator):
    model, tokenizer = generator
    prompts = ["count:", "the quick brown fox", "colors:"]  # different lengths: left padding in a batch
    settings = GenerationSettings(max_new_tokens=6)
    assert generate(model, tokenizer, prompts, settings, batch_size=3) == \
        [generate(model, tokenizer, [p], settings)[0] for p in prompts]


def test_streamed_pieces_join_to_the_generated_text(generator):
    model, tokenizer = generator
    for settings in (GenerationSettings(max_new_tokens=8), GenerationSettings(max_new_tokens=8, stop=[" thr"])):
        pieces = list(generate_stream(model, tokenizer, "count:", settings))
        assert len(pieces) > 1
        assert "".join(pieces) == generate(model, tokenizer, ["count:"], settings)[0]


def test_stop_strings_cut_the_reply_before_them(generator):
    model, tokenizer = generator
    [text] = generate(model, tokenizer, ["count:"], GenerationSettings(max_new_tokens=20, stop=[" three", " two"]))
    assert text == " one"


def test_completions_count_tokens_and_say_why_they_ended(generator):
    model, tokenizer = generator
    prompt_tokens = len(tokenizer("count:")["input_ids"])
    reply_tokens = len(tokenizer(" one two three four")["input_ids"])
    [by_eos] = complete(model, tokenizer, ["count:"], GenerationSettings(max_new_tokens=40))
    [by_length] = complete(model, tokenizer, ["count:"], GenerationSettings(max_new_tokens=2))
    [by_stop] = complete(model, tokenizer, ["count:"], GenerationSettings(max_new_tokens=40, stop=[" three"]))
    assert (by_eos.text, by_eos.finish_reason) == (" one two three four", "stop")
    assert by_eos.prompt_tokens == prompt_tokens and by_eos.completion_tokens == reply_tokens + 1  # + EOS
    assert (by_length.finish_reason, by_length.completion_tokens) == ("length", 2)
    assert (by_stop.text, by_stop.finish_reason) == (" one two", "stop")
    assert by_stop.completion_tokens == len(tokenizer(" one two three")["input_ids"])
    # In a batch, a row that ended early is padded; the padding is not counted.
    short, long = complete(model, tokenizer, ["count:", "colors:"], GenerationSettings(max_new_tokens=40))
    assert long.completion_tokens == len(tokenizer(" red green blue")["input_ids"]) + 1 and long.finish_reason == "stop"


def test_a_finished_stream_reports_its_completion(generator):
    model, tokenizer = generator
    for settings in (GenerationSettings(max_new_tokens=40), GenerationSettings(max_new_tokens=3),
                     GenerationSettings(max_new_tokens=40, stop=[" thr"])):
        reported = []
        text = "".join(generate_stream(model, tokenizer, "count:", settings, finished=reported.append))
        assert reported == complete(model, tokenizer, ["count:"], settings) and reported[0].text == text
    closed_early = []
    stream = generate_stream(model, tokenizer, "count:", GenerationSettings(max_new_tokens=40),
                             finished=closed_early.append)
    next(stream)
    stream.close()
    assert closed_early == []


def test_sampling_is_repeatable_with_a_seed(generator):
    model, tokenizer = generator
    settings = GenerationSettings(max_new_tokens=12, sample=True, temperature=3.0, top_k=0, seed=7)
    first = generate(model, tokenizer, ["count:"] * 4, settings)
    assert generate(model, tokenizer, ["count:"] * 4, settings) == first
    assert len(set(first)) > 1  # at temperature 3 the four samples differ: it did sample
    assert generate(model, tokenizer, ["count:"] * 4, GenerationSettings(**{**settings.__dict__, "seed": 8})) != first


def test_generation_settings_are_checked():
    with pytest.raises(ConfigError, match=r"temperature must be at least 1e-06 .*; top_p must be in \(0, 1\]"):
        GenerationSettings(sample=True, temperature=0, top_p=1.5)
    with pytest.raises(ConfigError, match=r"temperature, top_p and top_k apply to sampling; turn sampling on"):
        GenerationSettings(temperature=0.7)


def test_the_extreme_seeds_and_temperature_that_are_taken_generate(generator):
    """The bounds GenerationSettings checks are torch's: one past them torch raises, or samples NaN."""
    model, tokenizer = generator
    for seed, temperature in [(SEED_MAX, MIN_TEMPERATURE), (SEED_MIN, 1.0)]:
        settings = GenerationSettings(max_new_tokens=3, sample=True, temperature=temperature, seed=seed)
        assert len(generate(model, tokenizer, ["count:"], settings)) == 1
    for seed in (SEED_MAX + 1, SEED_MIN - 1):
        with pytest.raises(ValueError, match="Overflow"):  # torch's own refusal, before it seeds anything
            torch.manual_seed(seed)
        with pytest.raises(ConfigError, match=r"^seed must be from -2\*\*63 to 2\*\*64 - 1"):
            GenerationSettings(sample=True, seed=seed)


def test_prompts_too_long_for_the_model_are_refused(generator):
    model, tokenizer = generator
    with pytest.raises(DataError, match=r"prompt 2: the prompt has \d+ tokens, and with max_new_tokens 100 that "
                                        r"exceeds the model's limit of 128 positions"):
        generate(model, tokenizer, ["count:", "hello world " * 20], GenerationSettings(max_new_tokens=100))


def test_whet_eval_reports_perplexity_and_generation_scores(pattern_run, generator):
    from whet import load

    report = load(str(pattern_run["model"])).evaluate(str(pattern_run["dir"] / "dev.jsonl"), generate=True,
                                                      max_new_tokens=8)
    # Perplexity is over the labelled tokens: each response and its end-of-sequence token.
    _, tokenizer = generator
    labelled = sum(len(tokenizer(r, add_special_tokens=False)["input_ids"]) + 1 for r in PATTERNS.values())
    assert report["metrics"]["perplexity"] < 1.2 and report["metrics"]["tokens"] == labelled
    assert report["generation"] == {"examples": 3, "exact_match": 1.0, "rouge_l": 1.0}


# -- packing ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_examples_do_not_attend_across_boundaries(tiny_gpt2, attention):
    """The logits of each example inside a packed row equal its logits computed alone."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from whet.config import DataConfig
    from whet.data.examples import LMExample
    from whet.models.inference import model_inputs
    from whet.tasks.causal_lm import TASK

    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    TASK.prepare(tokenizer, AutoModelForCausalLM.from_pretrained(tiny_gpt2).config, DataConfig())
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2, attn_implementation=attention).eval()
    examples = [LMExample(prompt="count:", response=" one two"), LMExample(text="the quick brown fox"),
                LMExample(prompt="colors:", response=" red green blue")]
    alone = TASK.encode(examples, tokenizer, [], 64, 0, DataConfig())
    [row] = TASK.encode(examples, tokenizer, [], 64, 0, DataConfig(packing=True))
    assert row["examples"] == [0, 1, 2]
    with torch.no_grad():
        batch = TASK.collate([row], tokenizer.pad_token_id)
        packed = model(**model_inputs(batch)).logits[0]
        with_cache = model(**{k: v for k, v in model_inputs(batch).items() if k != "use_cache"}).logits[0]
        start = 0
        for feature in alone:
            solo = model(**model_inputs(TASK.collate([feature], tokenizer.pad_token_id))).logits[0]
            end = start + len(feature["input_ids"])
            torch.testing.assert_close(packed[start:end], solo, atol=1e-5, rtol=1e-4)
            start = end
        # The control: with the model's default use_cache, transformers skips packed-sequence
        # detection and the later examples see the earlier ones.
        assert (with_cache[len(alone[0]["input_ids"]):] - packed[len(alone[0]["input_ids"]):]).abs().max() > 1e-3
        # The summed loss of the packed row equals that of the examples alone.
        packed_loss = TASK.reduce_outputs(model(**model_inputs(batch)), batch).sum(0)
        alone_loss = sum(TASK.reduce_outputs(model(**model_inputs(b)), b).sum(0)
                         for b in (TASK.collate([f], tokenizer.pad_token_id) for f in alone))
        assert packed_loss == pytest.approx(alone_loss, rel=1e-5)


# -- LoRA and chats ------------------------------------------------------------------------------------

def test_lora_on_packed_chats_saves_an_adapter_and_the_template(tiny_gpt2, tmp_path):
    from safetensors.torch import load_file

    chats = [{"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": r.strip()}]}
             for p, r in PATTERNS.items()] * 4
    data = {"train": write_jsonl(tmp_path / "chats.jsonl", chats), "packing": True, "chat_template": CHATML}
    config = run_config(tmp_path, "lora", tiny_gpt2, data, method={"name": "lora"},
                        training={"max_steps": 40, "eval_every": 1000, "log_every": 1})
    events = []
    results = train(load_config(config), on_step=events.append)
    # Slowly (the tied embeddings and head stay random), but the adapter learns: from about 5.8 to 5.55.
    assert results["dev"]["loss"] < events[0].loss - 0.15
    saved = tmp_path / "lora" / "model"
    adapter = json.loads((saved / "adapter_config.json").read_text())
    assert adapter["task_type"] == "CAUSAL_LM" and adapter["modules_to_save"] in (None, [])
    # Only LoRA matrices are trained and saved: the tied lm_head / embeddings stay pretrained.
    assert all("lora_" in name for name in load_file(str(saved / "adapter_model.safetensors")))
    model, tokenizer = load_generator(saved)
    assert tokenizer.chat_template == CHATML
    settings = GenerationSettings(max_new_tokens=6)
    [reply] = generate(model, tokenizer, [[{"role": "user", "content": "count:"}]], settings)
    # A chat is generated from the saved template's rendering of it, generation prompt included.
    rendered = "<|im_start|>user\ncount:<|im_end|>\n<|im_start|>assistant\n"
    [from_text, from_bare_prompt] = generate(model, tokenizer, [rendered, "count:"], settings)
    assert reply == from_text != from_bare_prompt


def test_methods_that_train_nothing_are_refused(tiny_gpt2, tmp_path):
    data = {"train": write_jsonl(tmp_path / "t.jsonl", [{"text": "hello world"}] * 4)}
    config = run_config(tmp_path, "frozen", tiny_gpt2, data, method={"name": "frozen"})
    with pytest.raises(ConfigError, match="method 'frozen' cannot train task 'causal-lm' .*a causal LM has none"):
        load_config(config)


def test_encoders_are_refused_for_causal_lm(tiny_gpt2, tiny_bert, tmp_path):
    config = run_config(tmp_path, "builtin", "builtin:minilm", {"train": "t.jsonl"})
    with pytest.raises(ConfigError, match=r"model: builtin:minilm is an encoder, not a causal language model; set "
                                          r"model to a GPT-2 or Llama-style model"):
        load_config(config)
    with pytest.raises(ModelError, match=r"model '.*' \(bert\) is not a causal language model"):
        load_generator(tiny_bert)
