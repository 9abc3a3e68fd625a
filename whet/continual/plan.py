"""The continual-learning plan: one YAML file naming the base run settings, the scenario, the
strategy and the ordered experiences.

The run settings are the sections of a run config (``whet.config``), so a plan reads like a
run config with ``experiences`` in place of ``data.train``/``dev``/``test``. ``load_plan``
reports every problem in one ``ConfigError``, like ``load_config``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from whet.config import DataConfig, EvalConfig, MethodConfig, RunConfig, Section, TrainingConfig, read_validated
from whet.registry import unknown_name_message

SCENARIOS = ("class-incremental", "domain-incremental", "task-incremental")
# Strategies that change what is trained on or how the model is built; they do not combine.
ALONE = ("naive", "joint", "adapters")


class ReplaySettings(Section):
    memory_size: int = Field(2000, ge=1, description="Examples kept in the replay memory, all classes together.")
    selection: Literal["class-balanced", "reservoir"] = Field(
        "class-balanced",
        description="class-balanced: an equal share per class; reservoir: a uniform sample of every example seen.")


class EwcSettings(Section):
    weight: float = Field(1e5, gt=0, description="lambda: the penalty is lambda/2 * sum F (theta - theta*)^2.")
    mode: Literal["online", "separate"] = Field(
        "online",
        description="online: one running Fisher (decayed by decay); separate: one term per earlier experience.")
    decay: float = Field(1.0, gt=0, le=1,
                         description="online: gamma, the share of the earlier Fisher kept at each step.")
    fisher_examples: int = Field(500, ge=1,
                                 description="Training examples of an experience used to estimate its Fisher.")


class LwfSettings(Section):
    weight: float = Field(1.0, gt=0, description="Weight of the distillation loss beside the task loss.")
    temperature: float = Field(2.0, gt=0, description="Softmax temperature of the distillation.")


class AdapterSettings(Section):
    orthogonality: float = Field(
        0.5, ge=0,
        description="O-LoRA lambda: weight of the overlap of the new adapter's subspace with the earlier ones'.")


class StrategyConfig(Section):
    name: str = Field(
        "naive",
        description="naive, joint, replay, ewc, lwf or adapters; replay, ewc and lwf combine with '+' (replay+lwf).")
    replay: ReplaySettings = Field(default_factory=ReplaySettings, description="Settings of replay.")
    ewc: EwcSettings = Field(default_factory=EwcSettings, description="Settings of ewc.")
    lwf: LwfSettings = Field(default_factory=LwfSettings, description="Settings of lwf.")
    adapters: AdapterSettings = Field(default_factory=AdapterSettings,
                                      description="Settings of adapters (rank etc. from method.lora).")

    @field_validator("name")
    @classmethod
    def _known_strategies(cls, name: str) -> str:
        from whet.continual.strategies import STRATEGIES

        parts = [part.strip() for part in name.split("+")]
        for part in parts:
            if part not in STRATEGIES:
                raise ValueError(unknown_name_message("strategy", part, STRATEGIES.names()))
        if len(set(parts)) < len(parts):
            raise ValueError(f"'{name}' names a strategy twice")
        alone = [part for part in parts if part in ALONE]
        if alone and len(parts) > 1:
            raise ValueError(f"'{alone[0]}' does not combine with other strategies; combine replay, ewc and lwf")
        return "+".join(parts)

    def names(self) -> list[str]:
        return self.name.split("+")


class ExperienceConfig(Section):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_-]+$",
                      description="Short name (letters, digits, _ and -): the step directory and the task id.")
    train: str = Field(..., description="Training file of this experience.")
    dev: str = Field(..., description="Dev file: best checkpoint while training it, and its score after every step.")
    test: str | None = Field(None, description="Test file, scored after every step.")


class PlanOutput(Section):
    dir: str | None = Field(None, description="Output directory; default: runs/<plan file name>.")


class ContinualPlan(Section):
    task: str = Field(..., description="token-classification or sequence-classification.")
    model: str = Field("builtin:minilm",
                       description="Starting model: builtin:minilm, a pretrained model, or a model saved by whet "
                                   "(its labels, replay memory and EWC state carry on).")
    model_settings: dict[str, bool | int | float | str] = Field(
        default_factory=dict, description="Settings of the starting pretrained model's own configuration (its "
                                          "config.json), such as attention_probs_dropout_prob: 0.0, as in a run "
                                          "config; every step's model keeps them. Not for a model saved by whet.")
    scenario: Literal["class-incremental", "domain-incremental", "task-incremental"] = Field(
        ..., description="class-incremental: new labels appear; domain-incremental: same labels, new data; "
                         "task-incremental: each experience is a task, scored on its own labels.")
    strategy: StrategyConfig = Field(default_factory=StrategyConfig, description="How forgetting is fought.")
    data: DataConfig = Field(default_factory=DataConfig,
                             description="How every experience's files are read (no train/dev/test here).")
    method: MethodConfig = Field(default_factory=MethodConfig,
                                 description="Which parameters are fine-tuned at each experience.")
    training: TrainingConfig = Field(default_factory=TrainingConfig,
                                     description="Optimisation and schedule of each experience.")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Evaluation settings.")
    experiences: list[ExperienceConfig] = Field(..., min_length=1,
                                                description="The experiences, trained in this order.")
    output: PlanOutput = Field(default_factory=PlanOutput, description="Where results go.")

    # The same checks as a run config's, so a plan names a task and metric the same way.
    _known_task = field_validator("task")(classmethod(RunConfig._known_task.__func__))

    @model_validator(mode="after")
    def _check(self) -> ContinualPlan:
        RunConfig._check_metric(self)  # type: ignore[arg-type]  # it reads only task and training.metric
        if self.training.metric == "loss":
            raise ValueError("training.metric: the score matrix needs a metric where higher is better, not loss")
        if self.training.rdrop.alpha > 0:
            raise ValueError("training.rdrop: in a plan the strategies compute each batch's loss (label masks, "
                             "penalties), which R-Drop would replace; remove training.rdrop")
        if self.training.class_weights is not None:
            raise ValueError("training.class_weights: in a plan the strategies compute each batch's loss over the "
                             "labels seen so far; remove training.class_weights")
        for key in ("train", "dev", "test"):
            if getattr(self.data, key) is not None:
                raise ValueError(f"data.{key}: give the files of each experience under experiences, not in data")
        if self.data.augment is not None:
            raise ValueError("data.augment: continual plans do not augment; write augmented files with whet augment "
                             "and name them under experiences")
        names = [experience.name for experience in self.experiences]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"experiences: the name '{repeated[0]}' is used twice; names must be unique")
        strategies = self.strategy.names()
        if "adapters" in strategies:
            if self.scenario != "task-incremental":
                raise ValueError("strategy adapters routes by task id; it needs scenario: task-incremental")
            if self.method.name != "lora":
                raise ValueError("strategy adapters trains one LoRA adapter per experience; set method.name: lora "
                                 "(method.lora sets the rank)")
        if "ewc" in strategies and self.method.name == "lora":
            raise ValueError("strategy ewc anchors the model's own weights; use method full, bitfit or frozen")
        if self.scenario == "task-incremental" and self.data.multi_label:
            raise ValueError("scenario task-incremental needs single-label data (data.multi_label: false)")
        return self


def resolve_plan_paths(plan: ContinualPlan, base: Path) -> ContinualPlan:
    """Data paths in a plan are relative to the plan file, so plans work from any directory."""
    for experience in plan.experiences:
        for key in ("train", "dev", "test"):
            value = getattr(experience, key)
            if value is not None and not Path(value).expanduser().is_absolute():
                setattr(experience, key, str((base / value).resolve()))
    return plan


def load_plan(path: str | Path, overrides: list[str] | None = None) -> ContinualPlan:
    """Read, override and validate a plan; raise ``ConfigError`` listing every problem."""
    path = Path(path)
    plan = resolve_plan_paths(read_validated(path, overrides, ContinualPlan), path.parent)
    if plan.output.dir is None:
        plan.output.dir = str(Path("runs") / path.stem)
    return plan
