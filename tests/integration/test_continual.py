"""``whet continual`` end to end on a tiny random BERT and generated experiences: every strategy,
class/task-incremental sequence and token classification, resume, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file

from tests.continual_data import write_plan
from tests.in_process import run_whet
from whet import load
from whet.continual.step_models import load_plain_model
from whet.continual.plan import load_plan
from whet.continual.strategies.per_task_adapters import Adapters, add_adapter, task_model
from whet.continual.runner import run_plan
from whet.errors import ConfigError, WhetError
from whet.errors import Interrupted
from whet.training.interrupt import STOP

TWO = {"one": ["fruit", "tool"], "two": ["animal", "color"]}
FAST = {"epochs": 2, "batch_size": 8}  # 2 optimizer steps per epoch on 16 examples


def run(tmp_path: Path, model: Path, name: str, experiences=TWO, **options) -> tuple[dict, Path]:
    options.setdefault("training", {}).update(FAST)
    plan = load_plan(write_plan(tmp_path, model, experiences, name=name, per_label=8, **options))
    return run_plan(plan), Path(plan.output.dir)


def matrix(report: dict, split: str = "dev") -> list[list[float]]:
    return report["splits"][split]["matrix"]


def scores(out: Path, step: str) -> dict:
    return json.loads((out / "steps" / step / "scores.json").read_text())


@pytest.fixture(scope="module")
def replay_lwf(tiny_bert, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("replay")
    strategy = {"name": "replay+lwf", "replay": {"memory_size": 6}, "lwf": {"weight": 1.0, "temperature": 2.0}}
    return run(tmp_path, tiny_bert, "replay", strategy=strategy, test=True)


def test_replay_with_lwf_scores_every_experience_after_every_step(replay_lwf):
    report, out = replay_lwf
    for split in ("dev", "test"):
        value = report["splits"][split]
        assert len(value["before"]) == 2 and len(value["matrix"]) == 2 and all(len(row) == 2 for row in value["matrix"])
        # Row i: each experience's score after step i, as that step's scores file has it.
        assert value["matrix"] == [[row["accuracy"] for row in scores(out, step)["scores"][split]]
                                   for step in ("01-one", "02-two")]
        assert set(value["summary"]) >= {"average_accuracy", "mean_forgetting", "backward_transfer", "forward_transfer"}
    # Class-incremental: experience two's classes are not in the head before it trains.
    assert report["splits"]["dev"]["before"][1] == 0.0 and matrix(report)[0][1] == 0.0
    for name in ("continual_report.json", "continual_report.md", "dev_matrix.png", "dev_curves.png",
                 "test_matrix.png", "test_curves.png", "before.json", "plan.yaml"):
        assert (out / name).is_file(), name
    assert "| 2. two |" in (out / "continual_report.md").read_text()
    assert not list(out.rglob("*.tmp")) and not (out / "steps" / "02-two" / "checkpoints").exists()


def test_each_step_is_a_version_with_the_grown_head_and_the_replay_memory(replay_lwf):
    report, out = replay_lwf
    first, second = out / "steps" / "01-one" / "model", out / "steps" / "02-two" / "model"
    assert json.loads((first / "whet.json").read_text())["labels"] == ["fruit", "tool"]
    assert json.loads((second / "whet.json").read_text())["labels"] == ["fruit", "tool", "animal", "color"]
    model = load(str(second))
    [prediction] = model.predict(["apple banana"])
    assert set(prediction["probabilities"]) == {"fruit", "tool", "animal", "color"}
    # Step two trained on its 16 examples plus the 6 remembered from step one.
    assert scores(out, "01-one")["train_examples"] == 16 and scores(out, "02-two")["train_examples"] == 22
    lines = (second / "replay_memory.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"size": 6, "selection": "class-balanced", "seen": 32}
    labels = [json.loads(line)["labels"][0] for line in lines[1:]]
    # 6 places for 4 classes: one each for the classes that kept 3, the remainder to the larger new ones.
    assert {label: labels.count(label) for label in labels} == {"fruit": 1, "tool": 1, "animal": 2, "color": 2}
    state = json.loads((second / "continual.json").read_text())
    assert state["experiences"] == ["one", "two"] and state["task_labels"]["two"] == ["animal", "color"]


def test_a_new_plan_continues_from_a_saved_model_with_its_labels_and_memory(replay_lwf, tiny_bert, tmp_path):
    _, out = replay_lwf
    start = out / "steps" / "02-two" / "model"
    report, later = run(tmp_path, start, "later", experiences={"three": ["city", "music"]},
                        strategy={"name": "replay", "replay": {"memory_size": 6}})
    assert json.loads((later / "steps" / "01-three" / "model" / "whet.json").read_text())["labels"] == [
        "fruit", "tool", "animal", "color", "city", "music"]
    assert scores(later, "01-three")["train_examples"] == 16 + 6
    assert len(report["splits"]["dev"]["matrix"]) == 1


def test_ewc_saves_one_fisher_and_anchor_per_experience_in_separate_mode(tiny_bert, tmp_path):
    strategy = {"name": "ewc", "ewc": {"mode": "separate", "weight": 100.0, "fisher_examples": 5}}
    report, out = run(tmp_path, tiny_bert, "ewc", strategy=strategy)
    assert len(matrix(report)) == 2
    tensors = load_file(str(out / "steps" / "02-two" / "model" / "ewc.safetensors"))
    assert {key.split(".", 1)[0] for key in tensors} == {"0", "1"}
    assert tensors["0.anchor.classifier.weight"].shape == (2, 32)  # before the head grew
    assert tensors["1.fisher.classifier.weight"].shape == (4, 32)
    assert all((value >= 0).all() for key, value in tensors.items() if ".fisher." in key)
    assert tensors["1.fisher.classifier.weight"].sum() > 0


def test_joint_trains_each_step_on_everything_seen_so_far(tiny_bert, tmp_path):
    # Long enough for the tiny model to learn four classes at every seed tried.
    training = {"epochs": 30, "batch_size": 8, "warmup_ratio": 0.1, "eval_every": 10_000}
    plan = load_plan(write_plan(tmp_path, tiny_bert, TWO, name="joint", per_label=16, strategy={"name": "joint"},
                                training=training))
    report, out = run_plan(plan), Path(plan.output.dir)
    assert scores(out, "02-two")["train_examples"] == 64  # both experiences' 32 examples
    # Trained on the union, the last model tells all four classes apart; a naive step two, which
    # never sees experience one's classes against the new ones, scores 0.0 on experience one.
    assert matrix(report)[1] == [1.0, 1.0]


def test_joint_chooses_its_checkpoint_on_every_dev_set_seen_so_far(tiny_bert, tmp_path):
    # The previous test's training, evaluated every epoch: the current experience's dev set alone
    # reaches 1.0 before the earlier classes are learned, and that first checkpoint would be kept.
    training = {"epochs": 30, "batch_size": 8, "warmup_ratio": 0.1}
    plan = load_plan(write_plan(tmp_path, tiny_bert, TWO, name="joint-selection", per_label=16,
                                strategy={"name": "joint"}, training=training))
    assert matrix(run_plan(plan))[1] == [1.0, 1.0]


def test_adapters_route_by_task_and_leave_earlier_tasks_untouched(tiny_bert, tmp_path):
    # No weight decay: an earlier task's adapter and head rows then get no update at all.
    report, out = run(tmp_path, tiny_bert, "adapters", scenario="task-incremental", strategy={"name": "adapters"},
                      method={"name": "lora", "lora": {"r": 2}}, training={"weight_decay": 0.0})
    dev = matrix(report)
    assert dev[1][0] == dev[0][0]
    before, after = scores(out, "01-one")["scores"]["dev"][0], scores(out, "02-two")["scores"]["dev"][0]
    assert after["loss"] == before["loss"] and after["accuracy"] == before["accuracy"]  # the same logits
    with safe_open(str(out / "steps" / "02-two" / "model" / "adapters.safetensors"), framework="pt") as handle:
        assert json.loads(handle.metadata()["adapters"]) == ["one", "two"]
        keys = list(handle.keys())
    assert any(".lora_A.one." in key for key in keys) and any(".lora_A.two." in key for key in keys)
    # The saved model is the plain body and head, loadable by whet; a task's model merges its adapter.
    saved = out / "steps" / "02-two" / "model"
    body_and_head = load(str(saved))
    assert body_and_head.labels == ["fruit", "tool", "animal", "color"]
    batch = {"input_ids": torch.tensor([[101, 6207, 6207, 102]])}
    with torch.no_grad():
        bare = body_and_head.model(**batch).logits
        one, two = (task_model(saved, name)(**batch).logits for name in ("one", "two"))
    assert not torch.equal(one, two) and not torch.equal(one, bare)  # trained adapters (lora_B starts at 0)
    routed = load_plain_model(saved)
    strategy = Adapters(load_plan(out.parent / "adapters.yaml").method.lora, 0.0)
    strategy.load(saved)
    for name in strategy.names:
        add_adapter(routed, name, strategy.lora)
    routed.load_state_dict(strategy.saved, strict=False)
    strategy.route(routed, "two")
    routed.eval()  # after the adapters are added: their dropout layers start in training mode
    with torch.no_grad():
        assert torch.allclose(routed(**batch).logits, two, atol=1e-6)
    with pytest.raises(WhetError, match="has no adapter for 'three'; it has: one, two"):
        task_model(saved, "three")


def test_class_incremental_ner_grows_the_tag_set(tiny_bert, tmp_path):
    experiences = {"people": ["PER"], "places": ["LOC", "ORG"]}
    report, out = run(tmp_path, tiny_bert, "ner", experiences=experiences, task="token-classification",
                      strategy={"name": "replay+lwf", "replay": {"memory_size": 4}})
    assert report["metric"] == "f1" and len(matrix(report)) == 2
    labels = json.loads((out / "steps" / "02-places" / "model" / "whet.json").read_text())["labels"]
    assert labels == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    lines = (out / "steps" / "02-places" / "model" / "replay_memory.jsonl").read_text().splitlines()[1:]
    assert len(lines) == 4 and all("tags" in json.loads(line) for line in lines)


def test_an_interrupted_plan_resumes_to_the_same_result(tiny_bert, tmp_path):
    reference, _ = run(tmp_path, tiny_bert, "straight")
    plan = load_plan(write_plan(tmp_path, tiny_bert, TWO, name="stopped", per_label=8, training=dict(FAST)))
    events = []

    def stop_in_second_experience(event):
        events.append(event)
        if len(events) == 6:  # 4 steps per experience: the second step of experience two
            STOP.set()

    with pytest.raises(Interrupted):
        run_plan(plan, on_step=stop_in_second_experience)
    out = Path(plan.output.dir)
    assert (out / "steps" / "01-one" / "scores.json").is_file()
    assert not (out / "steps" / "02-two" / "scores.json").exists()
    with pytest.raises(WhetError, match="already holds a continual run; continue it with --resume"):
        run_plan(plan)
    resumed = run_plan(plan, resume=True)
    assert resumed["splits"] == reference["splits"]
    first = load_file(str(out / "steps" / "02-two" / "model" / "model.safetensors"))
    second = load_file(str(tmp_path / "straight" / "steps" / "02-two" / "model" / "model.safetensors"))
    assert all(torch.equal(first[key], second[key]) for key in second)

    # A plan extended with a new experience resumes with it; the steps done are kept.
    extended = write_plan(tmp_path, tiny_bert, {**TWO, "three": ["city", "music"]}, name="stopped", per_label=8,
                          training=dict(FAST))
    longer = run_plan(load_plan(extended), resume=True)
    assert longer["splits"]["dev"]["matrix"][:2] == [row + [0.0] for row in reference["splits"]["dev"]["matrix"]]
    assert len(longer["splits"]["dev"]["matrix"]) == 3
    changed = yaml.safe_load(extended.read_text())
    changed["training"]["lr"] = 1e-3
    extended.write_text(yaml.safe_dump(changed))
    with pytest.raises(WhetError, match="the plan's 'training' differs"):
        run_plan(load_plan(extended), resume=True)


def test_the_cli_runs_a_plan_and_writes_the_report(tiny_bert, tmp_path):
    path = write_plan(tmp_path, tiny_bert, TWO, name="cli", per_label=8, test=True, training=dict(FAST))
    result = run_whet("continual", str(path), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == {"dev", "test"} and "mean_forgetting" in summary["dev"]
    assert "dev accuracy" in result.stdout and "report written to" in result.stderr
    out = tmp_path / "out"
    for name in ("continual_report.json", "continual_report.md", "dev_matrix.png", "dev_curves.png",
                 "test_matrix.png", "steps/02-two/model/model.safetensors", "steps/02-two/scores.json"):
        assert (out / name).is_file(), name
    assert (out / "dev_matrix.png").stat().st_size > 5000


def test_model_settings_reach_every_steps_model_and_are_refused_for_a_whet_model(replay_lwf, tiny_bert, tmp_path):
    settings = {"attention_probs_dropout_prob": 0.0, "hidden_dropout_prob": 0.05}
    _, out = run(tmp_path, tiny_bert, "settings", model_settings=settings)
    for step in ("01-one", "02-two"):
        saved = json.loads((out / "steps" / step / "model" / "config.json").read_text())
        assert {key: saved[key] for key in settings} == settings, step
    _, earlier = replay_lwf
    with pytest.raises(ConfigError, match="model_settings: .* is a model saved by whet"):
        run(tmp_path, earlier / "steps" / "02-two" / "model", "refused", model_settings=settings)
