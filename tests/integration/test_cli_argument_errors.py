"""Commands refused on their arguments: ``whet generate``'s checks, ``whet eval --mode``, a
few-shot run asked for several processes, and ``whet adapters remove`` (which also removes)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import DEMO, write_config
from tests.in_process import run_whet as whet
from tests.integration.test_cli_errors import assert_no_traceback, run_all
from whet.adapters import add_adapter, list_adapters
from whet.config import load_config
from whet.errors import ConfigError, DataError, ModelError
from whet.generate import GenerationSettings, generate, load_generator
from whet.models.saved_model import load_saved_model
from whet.train import train

INTENTS = {"train": str(DEMO / "intents" / "train.jsonl"), "dev": str(DEMO / "intents" / "dev.jsonl")}


@pytest.fixture(scope="module")
def workdir(tiny_bert, tiny_gpt2, tmp_path_factory):
    """A LoRA intent classifier in an adapter store under two names, a few-shot config, and the
    commands' results."""
    path = tmp_path_factory.mktemp("argument-errors")
    raw = {"task": "sequence-classification", "model": str(tiny_bert), "data": INTENTS,
           "method": {"name": "lora", "lora": {"r": 2}}, "training": {"max_steps": 2, "batch_size": 8},
           "output": {"dir": str(path / "lora")}}
    train(load_config(write_config(path, "lora", raw, {})))
    store = path / "store"
    for name in ("one", "two"):
        add_adapter(store, name, path / "lora" / "model")
    fewshot = write_config(path, "fewshot", {**raw, "method": {"name": "fewshot", "fewshot": {"shots": 2}},
                                             "output": {"dir": str(path / "fewshot")}}, {})
    (path / "prompts.txt").write_text("count:\n", encoding="utf-8")
    model, lm = str(path / "lora" / "model"), str(tiny_gpt2)
    results = run_all({
        "generate without prompts": ["generate", lm],
        "generate with prompts and a file": ["generate", lm, "count:", "--input", "prompts.txt"],
        "generate no new tokens": ["generate", lm, "count:", "--max-new-tokens", "0"],
        "generate with a seed beyond 64 bits": ["generate", lm, "count:", "--sample", "--seed", "18446744073709551616"],
        "generate with a seed below 64 bits": ["generate", lm, "count:", "--sample", "--seed", "-9223372036854775809"],
        "generate at a temperature that overflows": ["generate", lm, "count:", "--sample", "--temperature", "1e-300"],
        "generate with a long stop string": ["generate", lm, "count:", "--stop", "\n", "--stop", "x" * 257],
        "eval in an unknown mode": ["eval", model, INTENTS["dev"], "--mode", "lenient"],
        "fewshot in two processes": ["train", str(fewshot), "--processes", "2"],
        "remove an unknown adapter": ["adapters", "remove", str(store), "three"],
        "remove from a directory that is no store": ["adapters", "remove", str(path / "lora"), "one"],
    }, cwd=path)
    return {"dir": path, "store": store, "model": model, "results": results}


ONE_LINE_ERRORS = {
    "generate without prompts": r"nothing to generate: give prompts as arguments or a file with --input",
    "generate with prompts and a file": r"give prompts as arguments or --input, not both",
    "generate no new tokens": r"max_new_tokens must be at least 1 \(got 0\)",
    "generate with a seed beyond 64 bits": r"seed must be from -2\*\*63 to 2\*\*64 - 1, the 64-bit range torch's "
                                           r"generator takes",
    "generate with a seed below 64 bits": r"seed must be from -2\*\*63 to 2\*\*64 - 1, .*",
    "generate at a temperature that overflows": r"temperature must be at least 1e-06 \(got 1e-300\), as smaller ones "
                                                r"overflow the scaled logits; for greedy decoding leave sampling off",
    "generate with a long stop string": r"stop strings are at most 256 characters: stop string 2 has 257",
    "eval in an unknown mode": r"--mode 'lenient': choose default or strict",
    "fewshot in two processes": r"method fewshot trains in one process; run it without --processes",
    "remove an unknown adapter": r"no adapter 'three' in .*store; it has: one, two",
    "remove from a directory that is no store": (
        r".*lora is not an adapter store; create one with: whet adapters add .*lora NAME MODEL"),
}


@pytest.mark.parametrize("case", list(ONE_LINE_ERRORS))
def test_a_refused_argument_gives_one_error_line_and_exit_code_2(case, workdir):
    result = workdir["results"][case]
    assert result.returncode == 2, result.stderr
    assert_no_traceback(result)
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and re.fullmatch(ONE_LINE_ERRORS[case], line[7:]), line


def test_a_refused_fewshot_run_starts_no_process_and_writes_nothing(workdir):
    result = workdir["results"]["fewshot in two processes"]
    assert "torch.distributed" not in result.stderr and "ChildFailedError" not in result.stderr
    assert not (workdir["dir"] / "fewshot").exists()


def test_whet_adapters_remove_deletes_one_adapter_and_keeps_the_rest(workdir):
    store = workdir["store"]
    assert list_adapters(store) == ["one", "two"]  # the refused removals removed nothing

    removed = whet("adapters", "remove", str(store), "one")
    assert removed.returncode == 0, removed.stderr
    assert removed.stderr == f"adapter 'one' removed from {store}\n"
    assert not (store / "adapters" / "one").exists() and (store / "base" / "model.safetensors").is_file()
    listed = whet("adapters", "list", str(store))
    assert listed.returncode == 0 and listed.stdout.split() == ["two"]
    with pytest.raises(ModelError, match=r"no adapter 'one' in .*store; it has: two"):
        load_saved_model(store, adapter="one")
    assert load_saved_model(store, adapter="two")[2].method == "lora"


# -- the same checks through the Python API, and those that need a model ----------------------------

@pytest.mark.parametrize("settings,message", [
    ({"max_new_tokens": 0}, r"^max_new_tokens must be at least 1 \(got 0\)$"),
    ({"sample": True, "top_k": -1}, r"^top_k must be 0 \(off\) or more \(got -1\)$"),
    ({"stop": ["\n", ""]}, r"^stop strings must not be empty$"),
    ({"top_k": 5}, r"^temperature, top_p and top_k apply to sampling; turn sampling on \(--sample\)$"),
    ({"sample": True, "temperature": 0.0, "top_p": 0.0},
     r"^temperature must be at least 1e-06 \(got 0\.0\), as smaller ones overflow the scaled logits; for greedy "
     r"decoding leave sampling off; top_p must be in \(0, 1\] \(got 0\.0\)$"),
    ({"sample": True, "temperature": 1e-300}, r"^temperature must be at least 1e-06 \(got 1e-300\)"),
    ({"sample": True, "temperature": float("nan")}, r"^temperature must be at least 1e-06 \(got nan\)"),
    ({"sample": True, "seed": 2**64}, r"^seed must be from -2\*\*63 to 2\*\*64 - 1"),
    ({"sample": True, "seed": -2**63 - 1}, r"^seed must be from -2\*\*63 to 2\*\*64 - 1"),
    ({"stop": ["a" * 300, "b" * 256, "c" * 257]},
     r"^stop strings are at most 256 characters: stop string 1 has 300, stop string 3 has 257$"),
])
def test_generation_settings_refuse_bad_values(settings, message):
    with pytest.raises(ConfigError, match=message):
        GenerationSettings(**settings)


def test_generate_refuses_models_that_do_not_generate(workdir, tiny_bert):
    with pytest.raises(ModelError, match=r"is a sequence-classification model; whet generate needs a causal-lm "
                                         r"model \(use whet predict for this one\)"):
        load_generator(workdir["model"])
    with pytest.raises(ModelError, match=r"model '.*' \(bert\) is not a causal language model; use a GPT-2, "
                                         r"Llama-style or other decoder model \(AutoModelForCausalLM\)"):
        load_generator(tiny_bert)


def test_generate_refuses_an_empty_prompt(tiny_gpt2):
    model, tokenizer = load_generator(tiny_gpt2)
    with pytest.raises(DataError, match=r"^prompt 2: the prompt is empty; give some text to continue$"):
        generate(model, tokenizer, ["count:", ""], GenerationSettings(max_new_tokens=2))

