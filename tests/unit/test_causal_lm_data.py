"""Causal LM data: reading, loss masks (prompt/response and chats), EOS, packing, generation input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CHATML
from whet.config import DataConfig
from whet.data.causal_lm import prompt_of, read_prompts
from whet.data.examples import LMExample
from whet.errors import DataError
from whet.tasks.causal_lm import IGNORE, TASK, pack, read_lm_file

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "count:"},
        {"role": "assistant", "content": "one two"}, {"role": "user", "content": "colors:"},
        {"role": "assistant", "content": "red green"}]


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def tokenizer(tiny_gpt2):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_gpt2)
    TASK.prepare(tok, _gpt2_config(tiny_gpt2), DataConfig())
    return tok


def _gpt2_config(path):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(path)


def labelled(ids: list[int], labels: list[int]) -> list[list[int]]:
    """The runs of labelled token ids."""
    runs, run = [], []
    for token, label in zip(ids, labels):
        if label == IGNORE:
            if run:
                runs.append(run)
            run = []
        else:
            assert label == token
            run.append(token)
    return runs + ([run] if run else [])


# -- reading ----------------------------------------------------------------------------------------

def test_plain_text_documents_are_separated_by_blank_lines(tmp_path):
    path = write(tmp_path / "corpus.txt", "first line\nsecond line\n\n\n  \nanother document\n")
    docs = read_lm_file(path)
    assert [d.text for d in docs] == ["first line\nsecond line", "another document"]
    assert docs[1].source.endswith("corpus.txt:6")


def test_jsonl_records_of_each_kind(tmp_path):
    rows = [{"text": "a document"}, {"prompt": "count:", "response": " one"}, {"messages": CHAT}]
    examples = read_lm_file(write(tmp_path / "mixed.jsonl", "".join(json.dumps(r) + "\n" for r in rows)))
    assert examples[0].text == "a document"
    assert (examples[1].prompt, examples[1].response) == ("count:", " one")
    assert examples[2].messages == CHAT


@pytest.mark.parametrize(("record", "message"), [
    ({"prompt": "count:"}, r"bad\.jsonl:2: 'response' is missing"),
    ({"prompt": "count:", "response": "  "}, r"bad\.jsonl:2: 'response' is empty"),
    ({"prompt": "count:", "response": 3}, r"bad\.jsonl:2: 'response' must be a string, got int"),
    ({"question": "?"}, r"bad\.jsonl:2: expected 'text' \(a document\), 'prompt' and 'response', or 'messages' "
                        r"\(a chat\); found keys: 'question'"),
    ({"messages": [{"role": "user", "content": "hi"}]}, r"bad\.jsonl:2: the chat has no 'assistant' message"),
    ({"messages": [{"role": "user"}]}, r"bad\.jsonl:2: message 1 must be an object with string 'role' and 'content'"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, r"bad\.jsonl:2: the chat begins with an assistant"),
])
def test_bad_records_name_the_file_and_line(tmp_path, record, message):
    path = write(tmp_path / "bad.jsonl", json.dumps({"text": "fine"}) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(DataError, match=message):
        read_lm_file(path)


def test_generation_inputs_drop_a_trailing_reference_reply(tmp_path):
    path = write(tmp_path / "in.jsonl", "\n".join(json.dumps(r) for r in [
        "plain string", {"prompt": "count:", "id": 7}, {"messages": CHAT}, {"text": "no prompt"}]) + "\n")
    inputs = read_prompts(Path(path))
    assert next(inputs)[1:] == ({"prompt": "plain string"}, "plain string")
    assert next(inputs)[1:] == ({"prompt": "count:", "id": 7}, "count:")
    assert next(inputs)[2] == CHAT[:-1]
    with pytest.raises(DataError, match=r"in\.jsonl:4: expected a string, an object with 'prompt'"):
        next(inputs)
    assert prompt_of({"messages": CHAT[:2]}, "x") == CHAT[:2]


# -- encoding: loss masks and EOS -----------------------------------------------------------------

def test_prompt_response_loss_is_on_the_response_and_its_eos_only(tokenizer):
    [feature] = TASK.encode([LMExample(prompt="count:", response=" one two")], tokenizer, [], 64, 0, DataConfig())
    prompt = tokenizer("count:")["input_ids"]
    response = tokenizer(" one two", add_special_tokens=False)["input_ids"]
    assert feature["input_ids"] == prompt + response + [tokenizer.eos_token_id]
    assert feature["labels"] == [IGNORE] * len(prompt) + response + [tokenizer.eos_token_id]


def test_documents_end_with_eos_and_long_ones_become_windows(tokenizer):
    text = "the quick brown fox jumps over the lazy dog " * 6
    ids = tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
    features = TASK.encode([LMExample(text=text)], tokenizer, [], 16, 0, DataConfig())
    assert [t for f in features for t in f["input_ids"]] == ids
    assert all(len(f["input_ids"]) <= 16 for f in features)
    assert all(f["labels"] == [IGNORE] + f["input_ids"][1:] for f in features)  # the first token is never predicted


def test_chat_loss_is_on_assistant_turns_each_ending_with_eos(tokenizer):
    tokenizer.chat_template = CHATML
    [feature] = TASK.encode([LMExample(messages=CHAT, source="chat.jsonl:1")], tokenizer, [], 128, 0, DataConfig())
    turns = [tokenizer.decode(run) for run in labelled(feature["input_ids"], feature["labels"])]
    assert turns == ["one two<|im_end|>\n<|endoftext|>", "red green<|im_end|>\n<|endoftext|>"]
    # Everything else is the template's rendering, unlabelled.
    text = tokenizer.decode(feature["input_ids"])
    assert text.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\ncount:<|im_end|>\n")


def test_chat_turns_already_ending_with_eos_get_no_extra_one(tokenizer):
    tokenizer.chat_template = CHATML
    tokenizer.eos_token = "<|im_end|>"  # as in chat models whose turns end with their EOS
    [feature] = TASK.encode([LMExample(messages=CHAT[:3])], tokenizer, [], 128, 0, DataConfig())
    assert [tokenizer.decode(run) for run in labelled(feature["input_ids"], feature["labels"])] == ["one two<|im_end|>\n"]


def test_chats_without_a_template_are_refused_with_the_fix(tokenizer):
    with pytest.raises(DataError, match=r"chat\.jsonl:3: 'messages' need a chat template and this model's tokenizer "
                                        r"has none; set data\.chat_template"):
        TASK.encode([LMExample(messages=CHAT, source="chat.jsonl:3")], tokenizer, [], 128, 0, DataConfig())


def test_a_template_that_rewrites_earlier_turns_is_refused(tokenizer):
    # Shows only the last turn: rendering a longer chat changes what came before.
    tokenizer.chat_template = "{{ messages[-1]['content'] }}{% if add_generation_prompt %}>{% endif %}"
    with pytest.raises(DataError, match=r"c\.jsonl:1: the chat template renders earlier turns differently"):
        TASK.encode([LMExample(messages=CHAT, source="c.jsonl:1")], tokenizer, [], 128, 0, DataConfig())


def test_too_long_replies_are_cut_and_reported(tokenizer, caplog):
    examples = [LMExample(prompt="count:", response=" one two three four " * 10), LMExample(prompt="count: " * 20,
                                                                                            response=" one")]
    features = TASK.encode(examples, tokenizer, [], 16, 0, DataConfig())
    assert [len(f["input_ids"]) for f in features] == [16]  # the second has no room left for its response
    assert "2 example(s) longer than 16 tokens were cut to fit (1 dropped" in caplog.text


# -- packing --------------------------------------------------------------------------------------

def test_packing_fills_rows_with_whole_sequences_and_restarts_positions():
    sequences = [(0, [1, 2, 3], [IGNORE, 2, 3]), (1, [4, 5], [IGNORE, 5]), (2, [6, 7, 8, 9], [IGNORE, 7, 8, 9])]
    rows = pack(sequences, 6)
    assert [r["input_ids"] for r in rows] == [[1, 2, 3, 4, 5], [6, 7, 8, 9]]
    assert [r["position_ids"] for r in rows] == [[0, 1, 2, 0, 1], [0, 1, 2, 3]]
    assert rows[0]["examples"] == [0, 1]
    batch = TASK.collate(rows, pad_token_id=0)
    assert "attention_mask" not in batch and batch["use_cache"] is False
    # Padding continues as a sequence of its own, unlabelled.
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 3, 0]]
    assert batch["labels"].tolist()[1] == [IGNORE, 7, 8, 9, IGNORE]


# -- config, metrics, reports ---------------------------------------------------------------------

def test_config_checks_for_causal_lm():
    from whet.config import validation_problems

    base = {"task": "causal-lm", "model": "gpt2"}
    assert validation_problems({**base, "training": {"metric": "perplexity"}}) == []
    assert validation_problems({**base, "training": {"metric": "rouge_l"}}) == [
        "training.metric: rouge_l is measured on generated replies; set eval.generate: true, or use loss or perplexity"]
    assert validation_problems({**base, "training": {"metric": "rouge_l"}, "eval": {"generate": True}}) == []
    [problem] = validation_problems({"task": "causal-lm"})  # the default model is the builtin encoder
    assert problem.startswith("model: builtin:minilm is an encoder, not a causal language model")


def test_lower_perplexity_is_better():
    from whet.training.loop import improved

    assert improved(1.5, 2.0, "perplexity") and not improved(2.5, 2.0, "perplexity")
    # A task may name metrics of its own as lower-is-better.
    assert improved(0.1, 0.2, "mse", ("mse",)) and not improved(0.1, 0.2, "mse")


def test_generation_scores_match_rouge_score_on_english_and_work_in_any_script():
    from rouge_score import rouge_scorer

    from whet.metrics.generation import generation_scores

    references = ["The cat sat on the mat.", "one two three four", "Привет, как дела?"]
    generated = ["the cat sat on a mat", " one two three four\n", "Привет как дела"]
    scores = generation_scores(references, generated)
    default = rouge_scorer.RougeScorer(["rougeL"])  # the package's own (ASCII-only) tokeniser
    english = [default.score(r, g)["rougeL"].fmeasure for r, g in zip(references[:2], generated[:2])]
    assert scores["rouge_l"] == pytest.approx((sum(english) + 1.0) / 3)
    assert default.score(references[2], generated[2])["rougeL"].fmeasure == 0.0  # why whet tokenises itself
    assert scores["exact_match"] == pytest.approx(1 / 3)  # surrounding whitespace does not count


def test_a_causal_lm_report_renders_its_metrics_and_samples(tmp_path):
    from rich.console import Console

    from whet.metrics.report import render_report, write_report

    report = {"task": "causal-lm", "examples": 3, "metrics": {"loss": 0.5, "perplexity": 1.6487, "tokens": 12},
              "generation": {"examples": 3, "exact_match": 1.0, "rouge_l": 1.0},
              "samples": [{"prompt": "count:", "reference": " one | two", "generated": " one | two"}]}
    console = Console(record=True, width=120)
    console.print(render_report(report))
    text = console.export_text()
    assert "perplexity" in text and "1.6487" in text and "generation rouge_l" in text and "count:" in text
    written = write_report(report, tmp_path)
    assert [p.name for p in written] == ["report.json", "report.md"]
    markdown = written[1].read_text()
    assert "| tokens | 12 |" in markdown and "| count: |  one \\| two |  one \\| two |" in markdown


def test_stop_strings_are_cut_and_held_back_while_streaming():
    from whet.models.decoding import _held_back, cut_at_stop

    assert cut_at_stop("one two three", ["three", " two"]) == "one"
    assert cut_at_stop("one two", []) == "one two"
    assert _held_back("one tw", [" two"]) == 3  # " tw" may become " two": not shown yet
    assert _held_back("one", [" two"]) == 0
