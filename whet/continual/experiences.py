"""Reading a plan's experiences, and the label set of the head at each step of its scenario.

* class-incremental: each experience brings labels not seen before; they are added to the
  head after the old ones.
* domain-incremental: one label set (the starting model's, else the first experience's);
  an experience with a label outside it contradicts the scenario.
* task-incremental: each experience is a task; its labels are added to the head like new
  classes, and it is trained and scored on its own labels only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from whet.config import apply_overrides, read_yaml, validation_problems
from whet.continual.step_models import is_whet_model, whet_model_labels
from whet.continual.plan import ContinualPlan, resolve_plan_paths
from whet.continual.strategies.base import ExperienceData
from whet.data.prepare import read_split
from whet.errors import WhetError


def plan_problems(path: str | Path, overrides: list[str] | None = None) -> list[str]:
    """Every problem in a plan and its experiences' files, one line each; nothing is trained or loaded."""
    from whet.tasks import TASKS

    path = Path(path)
    try:
        raw = apply_overrides(read_yaml(path), overrides or [])
    except WhetError as err:
        return [str(err)]
    problems = validation_problems(raw, ContinualPlan)
    if problems:
        return problems
    plan = resolve_plan_paths(ContinualPlan.model_validate(raw), path.parent)
    return plan_data(TASKS.get(plan.task), plan)[3]


def plan_data(task: Any, plan: ContinualPlan) -> tuple[list[ExperienceData], list[str], list[list[str]], list[str]]:
    """(experiences, the starting model's labels, the head's labels at each step, every problem found)."""
    initial, problems = [], []
    if is_whet_model(plan.model):
        model_task, initial = whet_model_labels(plan.model)
        if model_task != plan.task:
            problems.append(f"model: {plan.model} is a {model_task} model; the plan's task is {plan.task}")
    experiences, read_problems = read_experiences(task, plan)
    labels, label_problems = step_labels(plan.scenario, initial, experiences)
    return experiences, initial, labels, problems + read_problems + label_problems


def read_experiences(task: Any, plan: ContinualPlan) -> tuple[list[ExperienceData], list[str]]:
    """Every experience's files read and converted, and every problem found (one line each)."""
    experiences, problems = [], []
    for position, experience in enumerate(plan.experiences):
        where = f"experiences.{position} ({experience.name})"
        splits: dict[str, Any] = {}
        scheme = None
        for split in ("train", "dev", "test"):
            path = getattr(experience, split)
            if path is None:
                continue
            try:
                splits[split], scheme = read_split(task, path, plan.data, f"{where}.{split}", source_scheme=scheme)
            except WhetError as err:
                problems.append(f"{where}.{split}: {err}")
        labels: list[str] = []
        if "train" in splits:
            try:
                labels = task.label_list(splits["train"], plan.data)
            except WhetError as err:
                problems.append(f"{where}.train: {err}")
        experiences.append(ExperienceData(name=experience.name, train=splits.get("train", []),
                                          dev=splits.get("dev", []), test=splits.get("test"), labels=labels))
    return experiences, problems


def step_labels(scenario: str, initial: list[str],
                experiences: list[ExperienceData]) -> tuple[list[list[str]], list[str]]:
    """The head's labels while each experience trains, and the problems with the scenario."""
    problems = []
    if scenario == "domain-incremental":
        fixed = initial or (experiences[0].labels if experiences else [])
        for experience in experiences:
            outside = [label for label in experience.labels if label not in fixed]
            if outside:
                problems.append(f"experience '{experience.name}' has labels outside the first label set "
                                f"({', '.join(outside[:5])}); a domain-incremental plan keeps one label set "
                                f"(use scenario: class-incremental when labels are added)")
        return [list(fixed) for _ in experiences], problems
    steps, current = [], list(initial)
    for experience in experiences:
        new = [label for label in experience.labels if label not in current]
        if not new and scenario == "class-incremental" and experience.labels:
            problems.append(f"experience '{experience.name}' brings no new labels; a class-incremental plan "
                            f"adds labels at every experience (use scenario: domain-incremental for new data "
                            f"with the same labels)")
        current = current + new
        steps.append(list(current))
    return steps, problems
