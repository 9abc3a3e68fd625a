"""Shared fixtures: tiny random models saved to disk and loaded like a user's model."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Property tests check results, not speed: on a busy 2-core machine a first example that loads a
# module can take longer than hypothesis' default 200 ms deadline and fail a correct test.
settings.register_profile("whet", deadline=None)
settings.load_profile("whet")

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests marked ``gpu`` unless the marker expression names them (``-m gpu``).

    They fail without a CUDA device instead of skipping, so that a run which never saw a GPU
    cannot count them as passed; ``make test`` and ``-m "not slow"`` therefore deselect them.
    """
    if re.search(r"\bgpu\b", config.getoption("markexpr") or ""):
        return  # -m gpu selects them, -m "not gpu" leaves them out itself
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if gpu:
        config.hook.pytest_deselected(items=gpu)
        items[:] = [item for item in items if not item.get_closest_marker("gpu")]


def write_config(directory: Path, name: str, raw: dict, sections: dict) -> Path:
    """Write ``raw`` as ``directory/name.yaml`` with ``sections`` merged in: a dict updates the
    section of that name, any other value replaces it."""
    import yaml

    for section, values in sections.items():
        if isinstance(values, dict):
            raw.setdefault(section, {}).update(values)
        else:
            raw[section] = values
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module's tests (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    more only add synchronisation to a model this small, and the cores are shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, hidden-32 BERT with random weights and the builtin model's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from whet.models.pretrained import resolve_model

    path = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("builtin:minilm"))
    tokenizer.save_pretrained(path)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    return path


# Words the tiny GPT-2's tokenizer learns whole; anything else is spelt in bytes.
TINY_GPT2_CORPUS = ["count: one two three four", "letters: a b c d", "colors: red green blue",
                    "the quick brown fox jumps over the lazy dog", "hello world"]
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, hidden-32 GPT-2 with random weights and a byte-level BPE tokenizer trained on
    a few sentences, with an end-of-sequence token, no pad token and no chat template."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-gpt2")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(TINY_GPT2_CORPUS * 5, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                        additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    tokenizer.save_pretrained(path)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(path)
    return path
