"""The run configuration: one YAML file per run, validated before anything is loaded.

Every field has a default and a one-line description. Unknown keys are errors that name
the closest valid key. ``load_config`` collects *every* problem in one ``ConfigError``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from whet.errors import ConfigError
from whet.registry import closest, unknown_name_message


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    train: str | None = Field(None, description="Training file (CoNLL, JSONL, CSV or TSV).")
    dev: str | None = Field(None, description="Dev file for evaluation during training; split from train when absent.")
    test: str | None = Field(None, description="Test file evaluated once with the best model at the end.")
    format: Literal["auto", "conll", "jsonl", "csv", "tsv"] = Field(
        "auto", description="File format; 'auto' decides from the file extension."
    )
    encoding: str = Field("utf-8", description="Text encoding of the data files (e.g. latin-1).")
    scheme: Literal["auto", "iob1", "iob2", "bioes"] = Field(
        "auto", description="NER tag scheme of the files; 'auto' detects it from the training data."
    )
    label_scheme: Literal["iob2", "bioes"] = Field(
        "iob2", description="NER tag scheme the model is trained with; files are converted to it."
    )
    text_column: str = Field("text", description="Classification: column or key holding the text.")
    text_pair_column: str | None = Field(None, description="Classification: second text of a pair (e.g. NLI).")
    label_column: str = Field("label", description="Classification: column or key holding the label(s).")
    multi_label: bool = Field(False, description="Classification: each example may have several labels.")
    label_separator: str = Field("|", description="Multi-label: separator between labels in one CSV/TSV cell.")
    dev_split: float = Field(0.1, gt=0, lt=0.5, description="Share of train held out as dev when no dev file is given.")
    max_length: int | None = Field(
        None, ge=16, description="Tokens per window; longer inputs are split into overlapping windows. Default: the model's limit."
    )
    stride: int = Field(32, ge=0, description="Tokens shared by consecutive windows of a long input.")


class LoraSettings(Section):
    r: int = Field(8, ge=1, le=1024, description="LoRA rank.")
    alpha: float = Field(16.0, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.1, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: list[str] | None = Field(
        None, description="Module names to adapt; default: peft's choice for the architecture (query/value for BERT)."
    )


class MethodConfig(Section):
    name: str = Field("full", description="full, frozen (head only), bitfit (biases and head) or lora.")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="Settings used when name is lora.")

    @field_validator("name")
    @classmethod
    def _known_method(cls, name: str) -> str:
        # A field validator, not a model one, so it is reported alongside every other problem.
        from whet.methods import METHODS

        if name not in METHODS:
            raise ValueError(unknown_name_message("method", name, METHODS.names()))
        return name


class TrainingConfig(Section):
    epochs: int = Field(3, ge=1, le=1000, description="Passes over the training data.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (overrides epochs).")
    lr: float = Field(5e-5, gt=0, le=1, description="Peak learning rate of AdamW.")
    head_lr: float | None = Field(None, gt=0, le=1, description="Learning rate of the new task head (default: lr).")
    weight_decay: float = Field(0.01, ge=0, le=1, description="AdamW weight decay (not applied to biases and norms).")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps with linear warmup before linear decay.")
    batch_size: int = Field(32, ge=1, description="Most sentences in one batch.")
    max_tokens: int = Field(8192, ge=16, description="Most tokens (padded) in one batch; long batches get fewer sentences.")
    grad_accum: int = Field(1, ge=1, description="Batches whose gradients are summed before each optimizer step.")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Gradient clipping norm; null disables clipping.")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="bf16 runs forward/backward under bf16 autocast.")
    seed: int = Field(42, description="Seed for initialisation, shuffling and dropout; the same seed repeats a run.")
    eval_every: int | None = Field(None, ge=1, description="Evaluate on dev every N optimizer steps; default: each epoch.")
    metric: str | None = Field(None, description="Dev metric for best checkpoint and early stopping (task default: f1 or accuracy).")
    patience: int | None = Field(None, ge=1, description="Stop after this many evaluations without improvement.")
    log_every: int = Field(20, ge=1, description="Log training loss every N optimizer steps.")


class EvalConfig(Section):
    mode: Literal["default", "strict"] = Field(
        "default", description="NER entity matching: seqeval's default (lenient) or strict with the label scheme."
    )
    batch_size: int = Field(64, ge=1, description="Most sentences in one evaluation/prediction batch.")


class OutputConfig(Section):
    dir: str | None = Field(None, description="Run directory; default: runs/<config file name>.")
    merge: bool = Field(False, description="LoRA: also save the adapter merged into the base weights.")


class RunConfig(Section):
    task: str = Field(..., description="token-classification or sequence-classification.")
    model: str = Field("builtin:minilm", description="builtin:minilm, a local model directory, or a Hugging Face hub id.")
    data: DataConfig = Field(default_factory=DataConfig, description="Data files and how to read them.")
    method: MethodConfig = Field(default_factory=MethodConfig, description="Which parameters are fine-tuned.")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="Optimisation and schedule.")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Evaluation settings.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="Where results go.")

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        from whet.tasks import TASKS

        if task not in TASKS:
            raise ValueError(unknown_name_message("task", task, TASKS.names()))
        return task

    @model_validator(mode="after")
    def _check_metric(self) -> RunConfig:
        # Needs the task, so it runs once every field is valid.
        from whet.tasks import TASK_METRICS

        metrics = TASK_METRICS.get(self.task)
        if metrics and self.training.metric is not None and self.training.metric not in metrics:
            raise ValueError("training.metric: " + unknown_name_message("metric", self.training.metric, metrics))
        return self


def _field_names(model: type[BaseModel], path: tuple) -> list[str]:
    """The valid keys at ``path`` (used to suggest a fix for an unknown key)."""
    for part in path:
        field = model.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return list(model.model_fields)


def _describe(error: dict, root: type[BaseModel] = RunConfig) -> str:
    location = tuple(error["loc"])
    where = ".".join(str(p) for p in location) or "config"
    if error["type"] == "extra_forbidden":
        valid = _field_names(root, location[:-1])
        guess = closest(str(location[-1]), valid)
        hint = f"did you mean '{guess}'?" if guess else f"valid keys: {', '.join(valid)}"
        return f"{where}: unknown key; {hint}"
    if error["type"] == "missing":
        return f"{where}: required field is missing"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error":
        return f"{where}: {message}" if location else message
    return f"{where}: {message} (got {error.get('input')!r})"


def validation_problems(raw: dict, root: type[BaseModel] = RunConfig) -> list[str]:
    """Every problem in a raw config dict, one line each; empty when it is valid."""
    try:
        root.model_validate(raw)
    except ValidationError as err:
        return [_describe(e, root) for e in err.errors()]
    return []


def check_problems(where: str | Path, problems: list[str]) -> None:
    """Raise one ``ConfigError`` listing every problem found in ``where``."""
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(f"{where}: {count}: " + "; ".join(problems))


def parse_override(text: str) -> tuple[list[str], Any]:
    """``training.lr=3e-5`` -> (["training", "lr"], "3e-5"); values are parsed as YAML, and the
    config model then converts them to the field types."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set training.lr=3e-5")
    return key.strip().split("."), yaml.safe_load(value) if value.strip() else None


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    raw = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text!r}: '{part}' is not a section")
            node = child
        node[path[-1]] = value
    return raw


def read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; check the path")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML ({problem}); check indentation and quoting") from None
    if raw is None:
        raise ConfigError(f"{path} is empty; start from one of the configs in configs/")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    return raw


def resolve_paths(config: RunConfig, base: Path) -> RunConfig:
    """Data paths in a config file are relative to the file, so configs work from any cwd."""
    for name in ("train", "dev", "test"):
        value = getattr(config.data, name)
        if value is not None and not Path(value).expanduser().is_absolute():
            setattr(config.data, name, str((base / value).resolve()))
    return config


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and validate a run config; raise ``ConfigError`` listing every problem."""
    path = Path(path)
    raw = apply_overrides(read_yaml(path), overrides or [])
    check_problems(path, validation_problems(raw))
    config = resolve_paths(RunConfig.model_validate(raw), path.parent)
    if config.output.dir is None:
        config.output.dir = str(Path("runs") / path.stem)
    return config


def save_config(config: RunConfig, path: Path) -> None:
    from whet.io import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(config.model_dump(), sort_keys=False))
