"""``whet continual``: train on a plan's experiences in order, scoring every experience before
any training and after every step.

The output directory::

    plan.yaml                  the resolved plan (a resumed or extended plan must match it)
    before.json                the starting model's scores on every experience
    steps/NN-<name>/           one version per experience, never overwritten
        model/                 the model after it, with continual.json and the strategies' state
        scores.json            its row of the score matrix; written last, it marks the step done
        tensorboard/           training loss and dev metrics of the step
    continual_report.json, .md, dev_matrix.png, dev_curves.png (and test_* with test files)

A step is the ordinary training loop (``whet.training.fit``) on the experience's data plus what
the strategies add: examples (replay, joint), a loss term (EWC, LwF, O-LoRA), a model
(adapters). An interrupted plan resumes at the step where it stopped, mid-step from the
step's checkpoint when there is one.
"""

from __future__ import annotations

import functools
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import yaml

from whet.continual.experiences import plan_data
from whet.continual.heads import masked_cross_entropy, restricted_to
from whet.continual.step_models import is_whet_model, read_state, starting_model, whet_model_labels, write_state
from whet.continual.plan import ContinualPlan
from whet.continual.plan_report import build_report, render_continual_report, write_continual_report
from whet.continual.strategies.base import ExperienceData, Step, hooks
from whet.config import RunConfig
from whet.errors import ConfigError, DataError, WhetError, problems_message
from whet.io.atomic import existing_directory, write_json_atomic, write_text_atomic
from whet.io.yaml_loader import load_yaml
from whet.models.inference import model_inputs
from whet.models.model_card import data_files, training_figures, training_record
from whet.training.evaluation import EvalSettings, eval_settings, evaluate_features

log = logging.getLogger("whet")


@dataclass
class PlanRun:
    """What every step of one plan shares, set up once."""

    plan: ContinualPlan
    out: Path
    task: Any
    tokenizer: Any
    max_length: int
    metric: str
    experiences: list[ExperienceData]
    labels: list[list[str]]  # the head's labels at each step
    task_labels: dict[str, list[str]]
    strategies: list[Any]
    device: torch.device
    scoring: EvalSettings

    def encode(self, labels: list[str], pairs: list[tuple[str, Any]]) -> list[dict]:
        """Features of (experience name, example) pairs, each tagged with its experience (for label masks)."""
        data = self.plan.data
        features = self.task.encode([example for _, example in pairs], tokenizer=self.tokenizer, labels=labels,
                                    max_length=self.max_length, stride=data.stride, data=data)
        for feature in features:
            feature["experience"] = pairs[feature["example"]][0]
        return features

    @property
    def splits(self) -> list[str]:
        """Scored splits: dev, and test when an experience has a test file."""
        return ["dev"] + (["test"] if any(e.test is not None for e in self.experiences) else [])

    def known_tasks(self, index: int) -> dict[str, list[str]]:
        """The task labels known when experience ``index`` trains (later experiences left out)."""
        later = {experience.name for experience in self.experiences[index + 1:]}
        return {name: labels for name, labels in self.task_labels.items() if name not in later}

    def collate(self, labels: list[str], features: list[dict]) -> dict:
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        batch = self.task.collate(features, pad_token_id=pad_id)
        if self.plan.scenario == "task-incremental" and "labels" in batch:
            batch["label_mask"] = torch.stack([self.allowed(labels, f["experience"]) for f in features])
        return batch

    def allowed(self, labels: list[str], experience: str) -> torch.Tensor:
        """(labels,) bool: the labels of the experience's task among the head's labels."""
        own = set(self.task_labels.get(experience, labels))
        return torch.tensor([label in own for label in labels])


def task_loss(model: Any, batch: dict) -> tuple[torch.Tensor, Any]:
    """The loss of a batch without any strategy's term, and the model outputs (raw logits).

    In a task-incremental plan each example is scored on its own task's labels only.
    """
    if "label_mask" in batch:
        outputs = model(**{k: v for k, v in model_inputs(batch).items() if k != "labels"})
        return masked_cross_entropy(outputs.logits, batch["labels"], batch["label_mask"]), outputs
    outputs = model(**model_inputs(batch))
    return outputs.loss, outputs


def strategy_loss(strategies: list[Any]) -> Callable[[Any, dict], torch.Tensor]:
    def batch_loss(model: Any, batch: dict) -> torch.Tensor:
        loss, outputs = task_loss(model, batch)
        for extra_loss in hooks(strategies, "extra_loss"):
            term = extra_loss(model, batch, outputs)
            if term is not None:
                loss = loss + term
        return loss

    return batch_loss


def run_plan(plan: ContinualPlan, *, resume: bool = False, on_step: Callable[[Any], None] | None = None) -> dict:
    """Train on every experience of ``plan`` in order; return the report (score matrices and metrics).

    Args:
        plan: a validated plan (see ``whet.continual.plan.load_plan``).
        resume: continue the run in the plan's output directory (also after adding experiences).
        on_step: called with every training ``StepEvent``; may set ``whet.training.interrupt.STOP`` to interrupt.
    """
    from rich.console import Console

    if plan.model_settings and is_whet_model(plan.model):
        raise ConfigError(f"model_settings: {plan.model} is a model saved by whet, which keeps the settings it was "
                          f"trained with; remove model_settings")
    out = Path(plan.output.dir)
    check_output(out, plan, resume)
    run = prepare(plan, out)
    write_text_atomic(out / "plan.yaml", yaml.safe_dump(plan.model_dump(), sort_keys=False))

    before = with_new_experiences(run, out / "before.json", None)

    rows: list[dict] = []
    previous = Path(plan.model) if is_whet_model(plan.model) else None
    for index, experience in enumerate(run.experiences):
        step_dir = out / "steps" / f"{index + 1:02d}-{experience.name}"
        if (step_dir / "scores.json").is_file():
            rows.append(with_new_experiences(run, step_dir / "scores.json", step_dir / "model"))
        else:
            partial = existing_directory(step_dir / "checkpoints" / "last") is not None
            if step_dir.exists() and not partial:
                shutil.rmtree(step_dir)  # stopped before its first checkpoint: the step starts again
            rows.append(train_step(run, index, previous, step_dir, resume=partial, on_step=on_step))
        previous = step_dir / "model"
        report = plan_report(run, before, rows)
        write_continual_report(report, out, plots=index == len(run.experiences) - 1)
    Console().print(render_continual_report(report))
    return report


def check_output(out: Path, plan: ContinualPlan, resume: bool) -> None:
    stored_path = out / "plan.yaml"
    if not resume:
        if stored_path.is_file():
            raise WhetError(f"{out} already holds a continual run; continue it with --resume, or choose another "
                            f"directory with -o")
        return
    if not stored_path.is_file():
        raise WhetError(f"{out} holds no continual run to resume; start it without --resume")
    stored = load_yaml(stored_path.read_text(encoding="utf-8"))
    current = plan.model_dump()
    for key in current:
        if key != "experiences" and stored.get(key) != current[key]:
            raise WhetError(f"the plan's '{key}' differs from {stored_path}; resume with the same settings "
                            f"(only new experiences may be added at the end)")
    done = stored.get("experiences", [])
    if current["experiences"][: len(done)] != done:
        raise WhetError(f"the plan's experiences differ from those in {stored_path}; keep them and add new "
                        f"experiences at the end only")


def prepare(plan: ContinualPlan, out: Path) -> PlanRun:
    """Read and check every experience, fix the labels of each step, load the tokenizer."""
    from whet.continual.strategies import STRATEGIES
    from whet.tasks import TASKS
    from whet.training.setup import load_tokenizer_and_window

    task = TASKS.get(plan.task)
    experiences, initial, labels, problems = plan_data(task, plan)
    if problems:
        raise DataError(problems_message("the plan's experiences", problems))
    check_method(plan)
    start_state = read_state(plan.model) if initial else {}
    tokenizer, max_length = load_tokenizer_and_window(plan.model, task, plan.data, plan.method)
    task_labels = {**start_state.get("task_labels", {}), **{e.name: e.labels for e in experiences}}
    strategies = [STRATEGIES.get(name)(plan) for name in plan.strategy.names()]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return PlanRun(plan=plan, out=out, task=task, tokenizer=tokenizer, max_length=max_length,
                   metric=plan.training.metric or task.default_metric, experiences=experiences, labels=labels,
                   task_labels=task_labels, strategies=strategies, device=device,
                   scoring=eval_settings(plan.eval, plan.training, plan.data))


def check_method(plan: ContinualPlan) -> None:
    """Refuse what a run config refuses of its method: a task it cannot train, gradient
    checkpointing it cannot train with, multi-label or paired texts for a single-text method."""
    from whet.methods import method_problem

    problem = method_problem(plan.method.name, plan.task, checkpointing=plan.training.gradient_checkpointing)
    try:
        if problem is None:
            RunConfig._check_single_text_methods(plan)  # type: ignore[arg-type]  # it reads only method and data
    except ValueError as err:
        problem = str(err)
    if problem:
        raise ConfigError(problem)


def with_new_experiences(run: PlanRun, path: Path, model_dir: Path | None) -> dict:
    """Scores saved at ``path`` (``before.json`` when ``model_dir`` is None, else a step's
    ``scores.json``), completed with the experiences added to the plan since they were written:
    the saved model is scored on them and the file rewritten."""
    saved = read_json(path) if path.is_file() else {"dev": []}
    scores = saved if model_dir is None else saved["scores"]
    done = len(scores["dev"])
    if done == len(run.experiences) and all(split in scores for split in run.splits):
        return saved
    if model_dir is None:  # the starting model, with the same new head as the first step's
        from accelerate.utils import set_seed

        set_seed(run.plan.training.seed)
        source = run.plan.model
        labels = whet_model_labels(source)[1] if is_whet_model(source) else run.labels[0]
    else:
        source, labels = model_dir, saved["labels"]
    model = starting_model(source, labels, task=run.task, data=run.plan.data,
                           model_settings=run.plan.model_settings)
    # A new experience has no adapter in an earlier model: it is scored on the body and head, as then.
    added = score_experiences(run, model.to(run.device), labels, route=lambda name: None,
                              experiences=run.experiences[done:])
    scores = {split: scores.get(split, [])[:done] + added[split] for split in run.splits}
    saved = scores if model_dir is None else {**saved, "scores": scores}
    write_json_atomic(path, saved)
    return saved


def score_experiences(run: PlanRun, model: Any, labels: list[str], route: Callable[[str], None],
                      experiences: list[ExperienceData] | None = None) -> dict:
    """{split: [metrics of each experience]} for dev, and test (None for an experience without a test file)."""
    return {split: [score(run, model, labels, experience, getattr(experience, split), route)
                    if getattr(experience, split) is not None else None
                    for experience in (run.experiences if experiences is None else experiences)]
            for split in run.splits}


def score(run: PlanRun, model: Any, labels: list[str], experience: ExperienceData, examples: list[Any],
          route: Callable[[str], None]) -> dict[str, float]:
    features = run.encode(labels, [(experience.name, example) for example in examples])
    allowed = run.allowed(labels, experience.name) if run.plan.scenario == "task-incremental" else None
    route(experience.name)
    with restricted_to(model, allowed):
        _, metrics = evaluate_features(model, run.task, examples, features, labels, run.scoring,
                                       functools.partial(run.collate, labels), run.device)
    return metrics


def pooled(metrics: list[dict[str, float]], sizes: list[int]) -> dict[str, float]:
    """Each metric over several dev sets, weighted by their sizes (one set's metrics unchanged)."""
    if len(metrics) == 1:
        return metrics[0]
    total = sum(sizes)
    return {name: sum(m[name] * size for m, size in zip(metrics, sizes)) / total for name in metrics[0]
            if all(isinstance(m.get(name), (int, float)) for m in metrics)}


def train_step(run: PlanRun, index: int, previous: Path | None, step_dir: Path, *, resume: bool,
               on_step: Callable[[Any], None] | None) -> dict:
    """Train one experience and save its version directory; return its scores (a matrix row)."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from peft import PeftModel

    from whet.methods import METHODS
    from whet.methods.trainable import count_parameters, head_module_names
    from whet.training.batches import training_batches
    from whet.training.fit import fit
    from whet.training.trackers import tracking
    from whet.training.setup import apply_method, with_task_defaults

    plan, experience, labels = run.plan, run.experiences[index], run.labels[index]
    strategies = run.strategies
    if previous is not None:  # each step reads the strategies' state saved with the model it starts from
        for load in hooks(strategies, "load"):
            load(previous)
    step = Step(index=index + 1, experience=experience, earlier=run.experiences[:index], labels=labels,
                old_labels=run.labels[index - 1] if index else (whet_model_labels(previous)[1] if previous else []),
                task_labels=run.known_tasks(index), scenario=plan.scenario, previous=previous,
                seed=plan.training.seed, device=run.device,
                encode=lambda examples, name: run.encode(labels, [(name, example) for example in examples]),
                collate=functools.partial(run.collate, labels), task_loss=lambda m, b: task_loss(m, b)[0])

    # Data: the experience's own examples, then what the strategies add (replay memory, earlier data).
    pairs = [(experience.name, example) for example in experience.train]
    for training_examples in hooks(strategies, "training_examples"):
        pairs += training_examples(step)
    features = run.encode(labels, pairs)
    log.info("experience %d/%d '%s': %d examples (%d from earlier experiences), %d labels", index + 1,
             len(run.experiences), experience.name, len(pairs), len(pairs) - len(experience.train), len(labels))

    # Model: the previous step's (joint: the plan's start) with the head grown to this step's labels.
    set_seed(plan.training.seed)
    training = with_task_defaults(plan.training, run.task)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    batches = training_batches(features, step.collate, training, rank=accelerator.process_index,
                               world_size=accelerator.num_processes)
    restart = any(getattr(s, "restarts", False) for s in strategies)
    source = plan.model if restart or previous is None else previous
    model = starting_model(source, labels, task=run.task, data=plan.data, model_settings=plan.model_settings)
    heads = head_module_names(model)
    prepared = [prepare_model(model, step) for prepare_model in hooks(strategies, "prepare_model")]
    if prepared:
        model = prepared[-1]
        trainable, total = count_parameters(model)
        log.info("training %s of %s parameters (%.2f%%)", f"{trainable:,}", f"{total:,}", 100 * trainable / total)
    else:
        model = apply_method(model, plan.method, plan.task, run.task.peft_task_type, batches.steps)
    for before_experience in hooks(strategies, "before_experience"):
        before_experience(model, step)

    def route(name: str) -> None:
        for route_hook in hooks(strategies, "route"):
            route_hook(model, name)

    every_dev = any(getattr(strategy, "selects_on_every_dev", False) for strategy in strategies)
    selected_on = [seen for seen in run.experiences[:index + 1] if seen.dev] if every_dev else [experience]

    def evaluate(current: Any) -> dict[str, float]:
        return pooled([score(run, current, labels, seen, seen.dev, route) for seen in selected_on],
                      [len(seen.dev) for seen in selected_on])

    started = time.perf_counter()
    with tracking(["tensorboard"] if accelerator.is_main_process else [], step_dir, resume=resume) as trackers:
        model, state = fit(model, batches, heads=heads, evaluate=evaluate, training=training, metric=run.metric,
                           lower_is_better=run.task.lower_is_better, run_dir=step_dir, accelerator=accelerator,
                           resume=resume, on_step=on_step, batch_loss=strategy_loss(strategies),
                           method=None if prepared else METHODS.get(plan.method.name), trackers=trackers)
    parameters = count_parameters(model)  # before merging, while the adapter is what trains
    if isinstance(model, PeftModel):  # a LoRA update is merged: every step saves a plain model
        model = model.merge_and_unload()
    for after_experience in hooks(strategies, "after_experience"):
        after_experience(model, step)
    seconds = time.perf_counter() - started

    scores = score_experiences(run, model, labels, route)
    row = {"experience": experience.name, "step": index + 1, "labels": labels, "train_examples": len(pairs),
           "train_seconds": round(seconds, 2), "best_step": state.best_step, "scores": scores}
    save_step(run, step_dir, model, labels, index, row,
              training=step_record(run, index, row, training_figures(state, seconds=seconds), parameters))
    write_json_atomic(step_dir / "scores.json", row)
    shutil.rmtree(step_dir / "checkpoints", ignore_errors=True)  # the step is done; its model is saved
    return row


def step_record(run: PlanRun, index: int, row: dict, figures: dict, parameters: tuple[int, int]) -> dict:
    """How the step's model was trained, for its model card: the plan, the experience's files, the figures."""
    # What the step trained on also holds the examples strategies added (a replay memory).
    figures = {"train_examples": row["train_examples"], **figures}
    return training_record(command="whet continual plan.yaml", config=run.plan.model_dump(),
                           data=data_files(run.plan.experiences[index], run.experiences[index]),
                           figures=figures, parameters=parameters)


def save_step(run: PlanRun, step_dir: Path, model: Any, labels: list[str], index: int, row: dict, *,
              training: dict) -> None:
    """The step's model directory: the model, then the continual state and each strategy's state."""
    from whet.version import __version__
    from whet.models.saved_model import ModelInfo, save_model

    plan = run.plan
    to_save = model
    for model_to_save in hooks(run.strategies, "model_to_save"):
        to_save = model_to_save(model)
    own = {split: scores[index] for split, scores in row["scores"].items()}
    info = ModelInfo(task=plan.task, labels=labels, base_model=plan.model, method=plan.method.name,
                     data=plan.data.model_dump(), max_length=run.max_length, metrics=own, whet_version=__version__,
                     training=training)
    model_dir = step_dir / "model"
    save_model(model_dir, to_save, run.tokenizer, info)
    for save in hooks(run.strategies, "save"):
        save(model_dir, model)
    write_state(model_dir, {"scenario": plan.scenario, "strategy": plan.strategy.name,
                            "experiences": [e.name for e in run.experiences[: index + 1]],
                            "task_labels": run.known_tasks(index)})


def plan_report(run: PlanRun, before: dict, rows: list[dict]) -> dict:
    def matrix_row(metrics: list[dict | None]) -> list[float | None]:
        return [m[run.metric] if m is not None else None for m in metrics]

    scores = {split: {"before": matrix_row(before[split]), "matrix": [matrix_row(row["scores"][split]) for row in rows]}
              for split in run.splits}
    steps = [{k: row[k] for k in ("experience", "train_examples", "train_seconds", "best_step")} for row in rows]
    return build_report(metric=run.metric, scenario=run.plan.scenario, strategy=run.plan.strategy.name,
                        experiences=[e.name for e in run.experiences], scores=scores, steps=steps)


def read_json(path: Path) -> Any:
    import json

    return json.loads(Path(path).read_text(encoding="utf-8"))
