"""``method: fewshot`` (SetFit) on a tiny random encoder: training, the saved model (safetensors
only), loading it for predict/eval, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.conftest import DEMO
from tests.in_process import run_whet
from whet import load
from whet.config import load_config
from whet.errors import ConfigError, DataError, ModelError
from whet.train import train

TRAIN, DEV = DEMO / "intents" / "train.jsonl", DEMO / "intents" / "dev.jsonl"


def fewshot_config(tmp_path: Path, model: Path, name: str = "fewshot", **fewshot) -> Path:
    raw = {"task": "sequence-classification", "model": str(model), "data": {"train": str(TRAIN), "dev": str(DEV)},
           "method": {"name": "fewshot", "fewshot": {"shots": 4, "pair_iterations": 2, "lr": 1e-3, **fewshot}},
           "training": {"seed": 5}, "output": {"dir": str(tmp_path / name)}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def fewshot_run(tiny_bert, tmp_path_factory) -> tuple[Path, dict]:
    tmp_path = tmp_path_factory.mktemp("fewshot")
    results = train(load_config(fewshot_config(tmp_path, tiny_bert), ["output.trackers=[mlflow]"]))
    return tmp_path / "fewshot", results


def test_fewshot_run_saves_a_safetensors_model_with_its_reports(fewshot_run):
    run_dir, results = fewshot_run
    model_dir = run_dir / "model"
    files = {p.name for p in model_dir.rglob("*") if p.is_file()}
    assert {"classifier.safetensors", "model.safetensors", "modules.json", "whet.json", "tokenizer.json"} <= files
    assert not [f for f in files if f.endswith((".bin", ".pkl", ".pt", ".joblib"))]  # nothing pickled
    info = json.loads((model_dir / "whet.json").read_text())
    assert (info["method"], len(info["labels"])) == ("fewshot", 10)
    report = json.loads((run_dir / "dev_report.json").read_text())
    assert report["examples"] == 100 and results["dev"]["accuracy"] == report["classes"]["accuracy"]
    # 4 shots x 10 labels x 2 iterations x (positive + negative) = 160 pairs, 10 batches of 16.
    assert results["best_step"] == 10 and (run_dir / "training_curves.png").is_file()


def test_fewshot_run_is_tracked_in_mlflow(fewshot_run):
    from mlflow.tracking import MlflowClient

    run_dir, results = fewshot_run
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("whet").experiment_id])
    assert run.info.status == "FINISHED" and run.data.params["method.name"] == "fewshot"
    # The encoder's contrastive loss, logged every training.log_every (20) steps and at the last (10).
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")] == [10]
    assert run.data.metrics["final/dev/accuracy"] == pytest.approx(results["dev"]["accuracy"])
    assert {"dev_report.json", "model"} <= {artifact.path for artifact in client.list_artifacts(run.info.run_id)}

def test_saved_head_is_the_logistic_regression_on_the_fine_tuned_embeddings(fewshot_run):
    """Reference: scikit-learn refitted on the saved encoder's embeddings of the same 40 shots."""
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    from whet.tasks.sequence_classification import read_classification_file
    from whet.setfit.shots import sample_per_class

    run_dir, _ = fewshot_run
    model = load(str(run_dir / "model"))
    shots = sample_per_class(read_classification_file(TRAIN), 4, 5, source="", setting="")
    encoder = SentenceTransformer(str(run_dir / "model"), device="cpu")
    head = LogisticRegression(C=1.0, max_iter=2000, random_state=5).fit(
        encoder.encode([ex.text for ex in shots]), [model.labels.index(ex.labels[0]) for ex in shots])
    texts = ["I lost my card yesterday", "what is my balance", "please transfer 50 euros"]
    expected = head.predict_proba(encoder.encode(texts))
    predictions = model.predict(texts)
    got = np.array([[p["probabilities"][label] for label in model.labels] for p in predictions])
    assert got == pytest.approx(expected, abs=2e-3)  # probabilities are rounded to 4 places
    assert [p["label"] for p in predictions] == [model.labels[i] for i in expected.argmax(axis=1)]


def test_predict_and_eval_commands_load_the_fewshot_model(fewshot_run, tmp_path):
    run_dir, results = fewshot_run
    predicted = run_whet("predict", str(run_dir / "model"), "I lost my card")
    assert predicted.returncode == 0, predicted.stderr
    record = json.loads(predicted.stdout.strip())
    assert set(record) == {"text", "label", "score", "probabilities"}
    evaluated = run_whet("eval", str(run_dir / "model"), str(DEV), "-o", str(tmp_path / "eval"))
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["classes"]["accuracy"] == pytest.approx(results["dev"]["accuracy"])


def test_fewshot_model_exports_as_a_copy_but_not_to_int8(fewshot_run, tmp_path):
    from whet.export import export_model

    with pytest.raises(ModelError, match=r"was trained with method fewshot, whose model is not a transformers model; "
                                         r"int8 export is for the other methods"):
        export_model(fewshot_run[0] / "model", tmp_path / "int8", quantize="int8")
    copy = export_model(fewshot_run[0] / "model", tmp_path / "copy")
    texts = ["I lost my card", "what is my balance"]
    assert load(str(copy)).predict(texts) == load(str(fewshot_run[0] / "model")).predict(texts)


@pytest.mark.parametrize(("precision", "dtype"), [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_the_contrastive_phase_runs_in_the_training_precision(tiny_bert, tmp_path, monkeypatch, precision, dtype):
    from whet.setfit import encoder_training

    seen, fine_tune = [], encoder_training.fine_tune_encoder

    def recording(encoder, *args, **kwargs):
        linear = next(m for m in encoder.modules() if isinstance(m, torch.nn.Linear))
        hook = linear.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
        try:
            return fine_tune(encoder, *args, **kwargs)
        finally:
            hook.remove()

    monkeypatch.setattr(encoder_training, "fine_tune_encoder", recording)
    train(load_config(fewshot_config(tmp_path, tiny_bert, max_pairs=32),
                      [f"training.precision={precision}", "output.trackers=[]"]))
    assert len(seen) >= 2 * 2 and set(seen) == {dtype}  # 32 pairs: two batches, each side of a pair


def test_more_shots_than_a_class_has_is_a_clear_error(tiny_bert, tmp_path):
    config = load_config(fewshot_config(tmp_path, tiny_bert, shots=31))  # each demo intent has 30 examples
    with pytest.raises(DataError, match=r"train\.jsonl: method\.fewshot\.shots is 31 but 10 label\(s\) have fewer "
                                        r"examples: .*; lower method\.fewshot\.shots to at most 30"):
        train(config)
    with pytest.raises(ConfigError, match=r"method fewshot trains in one go and keeps no checkpoints"):
        train(config, resume=True)


def test_fewshot_config_needs_single_label_sequence_classification(tiny_bert, tmp_path):
    path = fewshot_config(tmp_path, tiny_bert)
    with pytest.raises(ConfigError, match=r"method 'fewshot' cannot train task 'token-classification' \(it "
                                          r"classifies whole texts into one label\); for token-classification"):
        load_config(path, ["task=token-classification"])
    with pytest.raises(ConfigError, match=r"fewshot classifies single texts into one label"):
        load_config(path, ["data.multi_label=true"])
    with pytest.raises(ConfigError, match=r"method\.fewshot\.shots: .*greater than or equal to 1"):
        load_config(path, ["method.fewshot.shots=0"])


@pytest.mark.parametrize("classes", [2, 3])
def test_logistic_head_as_a_linear_layer_matches_scikit_learn(classes):
    from sklearn.linear_model import LogisticRegression

    from whet.setfit.encoder_training import fit_logistic_head

    rng = np.random.default_rng(classes)
    x = rng.normal(size=(30, 5)).astype(np.float32)
    y = [i % classes for i in range(30)]
    weight, bias = fit_logistic_head(x, y, classes, c=0.5, seed=0)
    logits = x @ weight.numpy().T + bias.numpy()
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    reference = LogisticRegression(C=0.5, max_iter=2000, random_state=0).fit(x, y).predict_proba(x)
    assert probabilities == pytest.approx(reference, abs=1e-5)


def test_validate_reports_more_shots_than_a_class_has(tiny_bert, tmp_path):
    from whet.validate import config_problems

    assert config_problems(fewshot_config(tmp_path, tiny_bert)) == []
    [problem] = config_problems(fewshot_config(tmp_path, tiny_bert, shots=40))
    assert problem.startswith("data.train: ") and "method.fewshot.shots is 40 but 10 label(s)" in problem
