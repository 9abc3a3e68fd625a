"""``whet zeroshot`` on tiny random models: each mode against a direct computation, the
threshold, demonstrations, the command line and its errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.in_process import run_whet
from whet.errors import ConfigError, DataError, ModelError
from whet.zeroshot.labels import load_labels
from whet.zeroshot.run import build_scorer, detect_mode, run_zeroshot

LABELS = """
labels:
  lost_card:
    description: The card is lost or stolen.
    examples: ["I lost my card"]
  check_balance:
    description: How much money is in the account.
  transfer_money:
    verbalizers: [" transfer", " send money"]
content_free: ["N/A"]
"""
INPUTS = [{"text": "my card is gone", "label": "lost_card"},
          {"text": "what is my balance", "label": "check_balance"},
          {"text": "send 20 dollars to Bob", "label": "transfer_money"},
          {"text": "the weather is nice", "label": "none"}]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def labels_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("labels") / "labels.yaml"
    path.write_text(LABELS, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_nli(tmp_path_factory, tiny_bert) -> Path:
    """A 2-layer BERT classifier whose classes are entailment, neutral and contradiction."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    path = tmp_path_factory.mktemp("tiny-nli")
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    tokenizer.save_pretrained(path)
    names = ["entailment", "neutral", "contradiction"]
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=3,
                        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    torch.manual_seed(1)
    BertForSequenceClassification(config).save_pretrained(path)
    return path


def test_modes_are_detected_from_the_model(tiny_bert, tiny_gpt2, tiny_nli):
    assert detect_mode("builtin:minilm") == "embedding"  # sentence-transformers files
    assert detect_mode(str(tiny_gpt2)) == "causal"
    assert detect_mode(str(tiny_nli)) == "nli"
    assert detect_mode(str(tiny_bert)) == "embedding"  # a bare encoder: mean pooling


def test_embedding_mode_is_cosine_similarity_to_mean_label_vectors(tiny_bert, labels_file):
    from sentence_transformers import SentenceTransformer

    labels = load_labels(labels_file)
    scorer, _ = build_scorer(labels, model=str(tiny_bert), mode="embedding")
    texts = [row["text"] for row in INPUTS]
    scores = scorer.score(texts)
    # Reference: sentence-transformers' own embeddings (mean pooling), normalised by hand.
    reference = SentenceTransformer(str(tiny_bert), device="cpu")
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    groups = [["lost card", "The card is lost or stolen.", "I lost my card"],
              ["check balance", "How much money is in the account."], ["transfer money"]]
    label_vectors = unit(np.stack([unit(reference.encode(group)).mean(axis=0) for group in groups]))
    similarity = unit(reference.encode(texts)) @ label_vectors.T
    assert scores.confidence == pytest.approx(similarity.max(axis=1), abs=1e-5)
    expected = np.exp(similarity / 0.05) / np.exp(similarity / 0.05).sum(axis=1, keepdims=True)
    assert scores.probabilities == pytest.approx(expected, abs=1e-4)


def causal_reference(model, tokenizer, context: str, continuation: str) -> float:
    """log p(continuation | context), straight from the model's logits."""
    head = tokenizer(context)["input_ids"]
    tail = tokenizer(context + continuation)["input_ids"][len(head):]
    with torch.no_grad():
        logits = model(torch.tensor([head + tail])).logits[0]
    logp = torch.log_softmax(logits, dim=-1)
    return float(sum(logp[len(head) - 1 + i, token] for i, token in enumerate(tail)))


def test_causal_mode_scores_verbalizers_by_log_likelihood_and_calibrates(tiny_gpt2, labels_file):
    labels = load_labels(labels_file)
    labels.calibrate = False
    scorer, mode = build_scorer(labels, model=str(tiny_gpt2))
    assert mode == "causal"
    prompt = "send 20 dollars to Bob\nTopic:"
    got = scorer.label_logprobs([prompt])[0]
    single = [causal_reference(scorer.model, scorer.tokenizer, prompt, word) for word in
              (" lost card", " check balance")]
    several = np.logaddexp(causal_reference(scorer.model, scorer.tokenizer, prompt, " transfer"),
                           causal_reference(scorer.model, scorer.tokenizer, prompt, " send money"))
    assert got == pytest.approx([*single, several], abs=1e-4)
    # Calibrated against "N/A", the content-free text itself scores every label alike.
    labels.calibrate = True
    assert scorer.score(["N/A"]).probabilities[0] == pytest.approx([1 / 3] * 3, abs=1e-5)
    assert not np.allclose(scorer.score(["my card is gone"]).probabilities[0], 1 / 3, atol=1e-3)


def test_in_context_demonstrations_random_and_similar(tiny_gpt2, tiny_bert, labels_file, tmp_path):
    from whet.zeroshot.demonstrations import choose

    labels = load_labels(labels_file)
    examples = write_jsonl(tmp_path / "examples.jsonl", INPUTS[:3])
    scorer, _ = build_scorer(labels, model=str(tiny_gpt2), examples=examples, shots=2, selection="similar",
                             selection_model=str(tiny_bert))
    assert [ex.text for ex in scorer.demonstrations.pool] == ["I lost my card"] + [r["text"] for r in INPUTS[:3]]
    shown = choose(scorer.demonstrations, ["what is my balance"])[0]
    assert len(shown) == 2 and shown[-1].text == "what is my balance"  # the closest example comes last
    assert scorer._shown(shown).endswith("what is my balance\nTopic: check balance\n\n")
    random_choice = choose(scorer.demonstrations.__class__(scorer.demonstrations.pool, 3, "random", 0), ["a", "b"])
    assert len(random_choice[0]) == 3 and random_choice[0] == random_choice[1]
    scores = scorer.score(["my card is gone", "send money"])
    assert scores.probabilities.sum(axis=1) == pytest.approx([1, 1])
    with pytest.raises(DataError, match=r"--shots 9 but only 4 labelled example\(s\) are available"):
        build_scorer(labels, model=str(tiny_gpt2), examples=examples, shots=9)


def test_mlm_mode_reads_verbalizer_log_probabilities_at_the_masks(tiny_bert, labels_file):
    labels = load_labels(labels_file)
    labels.calibrate = False
    scorer, _ = build_scorer(labels, model=str(tiny_bert), mode="mlm")
    tokenizer, model = scorer.tokenizer, scorer.model
    got = scorer.label_logprobs(["my card is gone"])[0]

    def reference(words: str) -> float:
        ids = tokenizer(words, add_special_tokens=False)["input_ids"]
        masks = " ".join(["[MASK]"] * len(ids))
        encoded = tokenizer(f"my card is gone Topic: {masks}.", return_tensors="pt")
        positions = (encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero()[:, 0]
        with torch.no_grad():
            logp = torch.log_softmax(model(**encoded).logits[0], dim=-1)
        return float(sum(logp[p, t] for p, t in zip(positions, ids)))

    expected = [reference("lost card"), reference("check balance"),
                np.logaddexp(reference("transfer"), reference("send money"))]
    assert got == pytest.approx(expected, abs=1e-4)


def test_nli_mode_uses_the_entailment_class(tiny_nli, tiny_bert, labels_file):
    labels = load_labels(labels_file)
    scorer, mode = build_scorer(labels, model=str(tiny_nli))
    assert mode == "nli" and scorer.hypotheses[0] == "This text is about lost card."
    scores = scorer.score(["my card is gone", "what is my balance"])
    encoded = scorer.tokenizer(["my card is gone"] * 3, scorer.hypotheses, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = scorer.model(**encoded).logits
    assert scores.probabilities[0] == pytest.approx(torch.softmax(logits[:, 0], 0).numpy(), abs=1e-5)
    best = int(scores.probabilities[0].argmax())
    assert scores.confidence[0] == pytest.approx(float(torch.softmax(logits[best], 0)[0]), abs=1e-5)
    with pytest.raises(ModelError, match=r"has no entailment class .*; mode nli needs a model fine-tuned for natural"):
        build_scorer(labels, model=str(tiny_bert), mode="nli")
    with pytest.raises(ConfigError, match=r"--examples and --shots work in modes embedding and causal, not nli"):
        build_scorer(labels, model=str(tiny_nli), shots=2)


def test_threshold_labels_uncertain_texts_none_and_is_evaluated(tiny_bert, labels_file, tmp_path):
    labels = load_labels(labels_file)
    inputs = write_jsonl(tmp_path / "texts.jsonl", INPUTS)
    plain = run_zeroshot(labels, inputs, model=str(tiny_bert))
    confidences = sorted(record["score"] for record in plain.records)
    cut = (confidences[1] + confidences[2]) / 2
    result = run_zeroshot(labels, inputs, model=str(tiny_bert), threshold=cut)
    assert [r["label"] == "none" for r in result.records] == [r["score"] < cut for r in plain.records]
    assert sum(r["label"] == "none" for r in result.records) == 2
    classes = result.report["classes"]
    assert classes["labels"][-1] == "none" and sum(map(sum, classes["confusion_matrix"])) == 4
    # Tuned on the input itself, the report on it shows the precision and coverage the tuning promised.
    tuned = run_zeroshot(labels, inputs, model=str(tiny_bert), tune_on=inputs, target_precision=0.5)
    in_scope = [(r["label"], row["label"]) for r, row in zip(tuned.records, INPUTS) if r["label"] != "none"]
    assert tuned.threshold.coverage == len(in_scope) / 4
    assert tuned.threshold.precision == pytest.approx(np.mean([p == g for p, g in in_scope]))
    assert tuned.threshold.reached == (tuned.threshold.precision >= 0.5)


def run_cli(args: list[str], cwd=None) -> tuple[int, str, str]:
    result = run_whet(*args, cwd=cwd)
    return result.returncode, result.stdout, result.stderr


def test_cli_writes_predictions_report_and_tuned_threshold(tiny_bert, labels_file, tmp_path):
    inputs = write_jsonl(tmp_path / "texts.jsonl", INPUTS)
    out, reports = tmp_path / "predictions.jsonl", tmp_path / "report"
    code, _, err = run_cli(["zeroshot", "--labels", str(labels_file), "--input", str(inputs), "--model", str(tiny_bert),
                            "--output", str(out), "--tune-threshold", str(inputs), "--target-precision", "0.5",
                            "--report-dir", str(reports)])
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    threshold = json.loads((reports / "threshold.json").read_text())
    assert threshold["target_precision"] == 0.5 and threshold["precision"] >= 0.5
    assert [r["label"] == "none" for r in records] == [r["score"] < threshold["threshold"] for r in records]
    assert set(records[0]) == {"text", "label", "score", "probabilities"}
    assert json.loads((reports / "report.json").read_text())["examples"] == 4
    assert f"threshold {threshold['threshold']:.4f}" in err


@pytest.mark.parametrize("labels_text, extra, message", [
    ("labels: {a: {}, b: {}}\ntemplates: ['{description}']\n", [],
     r"error: .*labels\.yaml: label 'a' has no description, but templates uses \{description\}"),
    ("labels: {a: {}, b: {}}\n", ["--mode", "sentiment"],
     r"error: unknown zero-shot mode 'sentiment'; choose one of: causal, embedding, mlm, nli"),
    ("labels: {a: {}, b: {}}\n", ["--shots", "2"],
     r"error: --shots chooses demonstrations for mode causal"),
    ("labels: {a: {}, b: {}}\n", ["--threshold", "0.5", "--tune-threshold", "texts.jsonl"],
     r"error: give --threshold or --tune-threshold, not both"),
])
def test_cli_bad_input_is_one_line_and_exit_code_2(labels_text, extra, message, tiny_bert, tmp_path):
    (tmp_path / "labels.yaml").write_text(labels_text)
    write_jsonl(tmp_path / "texts.jsonl", [{"text": "hello"}])
    code, _, err = run_cli(["zeroshot", "--labels", "labels.yaml", "--input", "texts.jsonl", "--model", str(tiny_bert),
                            *extra], cwd=tmp_path)
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.strip().endswith(errors[0]) and "Traceback" not in err
    assert re.search(message, errors[0]), err


def test_partly_labelled_input_is_refused(tmp_path):
    from whet.zeroshot.run import read_gold, read_inputs

    path = write_jsonl(tmp_path / "texts.jsonl", [{"text": "a", "label": "x"}, {"text": "b"}])
    with pytest.raises(DataError, match=r"texts\.jsonl:2: no 'label', but 1 of 2 inputs have one"):
        read_inputs(path)
    gold = tmp_path / "gold.txt"
    gold.write_text("x\n")
    with pytest.raises(DataError, match=r"gold\.txt has 1 labels but the input has 2 texts"):
        read_gold(gold, 2)
