"""The run configuration: one YAML file per run, validated before anything is loaded.

Every field has a default and a one-line description. Unknown keys are errors that name
the closest valid key. ``load_config`` collects *every* problem in one ``ConfigError``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, create_model, field_validator,
                      model_serializer, model_validator)

from whet.data.settings import DataConfig
from whet.errors import ConfigError, problems_message
from whet.methods import METHODS
from whet.methods.base import Method
from whet.registry import closest, unknown_name_message
from whet.io.yaml_loader import load_yaml, not_text
from whet.search_space import CategoricalDistribution, FloatDistribution, IntDistribution, TuneConfig


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MethodChoice(Section):
    """What every ``method`` section has: the method's name. ``MethodConfig`` adds the settings."""

    name: str = Field("full", description=f"How to fine-tune, one of: {', '.join(METHODS.names())} (see "
                                          f"docs/methods.md; fewshot (SetFit) and pet in docs/fewshot.md).")

    @field_validator("name")
    @classmethod
    def _known_method(cls, name: str) -> str:
        # A field validator, not a model one, so it is reported alongside every other problem.
        if name not in METHODS:
            raise ValueError(unknown_name_message("method", name, METHODS.names()))
        return name

    @field_validator("*")
    @classmethod
    def _settings_of_the_chosen_method(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only on the sections a config gives (defaults are not validated) and after their own
        # keys are checked, so a typo inside them is reported first. ``name`` is validated first: it
        # is missing from ``info.data`` only when refused, and then that is the problem reported.
        owner = METHOD_SETTINGS.get(info.field_name)
        chosen = info.data.get("name")
        if owner is not None and chosen is not None and owner.name != chosen:
            raise ValueError(f"these settings belong to method '{owner.name}', but method.name is '{chosen}'; "
                             f"remove them or set method.name: {owner.name}")
        return value

    @model_serializer(mode="wrap")
    def _chosen_settings_only(self, dump: Any) -> dict[str, Any]:
        # Without the other methods' default settings, a run's saved config.yaml validates again.
        return {key: value for key, value in dump(self).items()
                if key not in METHOD_SETTINGS or METHOD_SETTINGS[key].name == self.name}


def _registered_settings() -> dict[str, Method]:
    """Section name -> its method, for every registered method with settings."""
    # Imports every method module: cheap, as they import torch and peft only inside functions.
    methods = [METHODS.get(name) for name in METHODS.names()]
    return {method.section: method for method in methods if method.settings is not None}


METHOD_SETTINGS = _registered_settings()

# The ``method`` section: ``name`` and, under each method's section name, the settings class its
# module defines, so a new method needs no line here. Only the chosen method's section may be given.
# It is one model rather than a union of one per method, so that the keys inside another method's
# section are still checked (a typo there is reported as a typo, not as a misplaced section).
MethodConfig = create_model(
    "MethodConfig", __base__=MethodChoice, __module__=__name__,
    **{section: (method.settings, Field(default_factory=method.settings,
                                        description=f"Settings used when name is {method.name}."))
       for section, method in METHOD_SETTINGS.items()},
)


# Each adversarial method's settings and their defaults: FGM (Miyato et al., 2017) takes one step
# of size epsilon; PGD (Madry et al., 2018) takes ``steps`` of size alpha inside a ball of radius
# epsilon; FreeLB (Zhu et al., 2020) starts from a random perturbation of norm init_magnitude and
# takes ``steps`` of size alpha, inside a ball of radius epsilon when one is set (its reference
# code sets none by default). Every norm is the L2 norm of one sequence's perturbation. The sizes
# follow FreeLB's for BERT (steps of 0.1): MiniLM's word embeddings have norms about 1.1 a token,
# about 4 for a 13-token text, and a step concentrates on the few tokens the loss is most
# sensitive to, so a size near 1 can replace a token's embedding outright.
ADVERSARIAL_DEFAULTS: dict[str, dict[str, Any]] = {
    "none": {},
    "fgm": {"epsilon": 0.3},
    "pgd": {"epsilon": 0.3, "alpha": 0.1, "steps": 3},
    "freelb": {"epsilon": None, "alpha": 0.1, "steps": 2, "init_magnitude": 0.1},
}


class AdversarialConfig(Section):
    method: Literal["none", "fgm", "pgd", "freelb"] = Field(
        "none", description="Adversarial training on the input word embeddings: fgm (one extra forward/backward), "
                            "pgd or freelb (steps of them); see docs/adversarial.md. `adversarial: fgm` is short for "
                            "this key.")
    epsilon: float | None = Field(
        None, gt=0, description="fgm: the perturbation's L2 norm per sequence (default 0.3); pgd: the radius it is "
                                "projected into (0.3); freelb: that radius, null for none (the default).")
    alpha: float | None = Field(None, gt=0, description="pgd and freelb: the L2 norm of each ascent step (0.1).")
    steps: int | None = Field(None, ge=1, le=20, description="pgd and freelb: ascent steps, each a forward and backward pass (pgd 3, freelb 2).")
    init_magnitude: float | None = Field(
        None, ge=0, description="freelb: the L2 norm of the random perturbation it starts from (0.1); 0 starts clean.")
    embedding: str | None = Field(
        None, description="Module whose output is perturbed, by name as in model.named_modules(); default: the "
                          "model's input word embeddings (get_input_embeddings()).")

    @model_validator(mode="before")
    @classmethod
    def _method_defaults(cls, data: Any) -> Any:
        # ``adversarial: fgm`` names the method alone; the settings a method does not use are refused
        # and those it uses but the config leaves out get the method's defaults.
        if isinstance(data, str):
            data = {"method": data}
        if not isinstance(data, dict) or data.get("method", "none") not in ADVERSARIAL_DEFAULTS:
            return data  # the field checks report it
        method = data.get("method", "none")
        defaults = ADVERSARIAL_DEFAULTS[method]
        unused = [key for key in ("epsilon", "alpha", "steps", "init_magnitude", "embedding")
                  if data.get(key) is not None and key not in defaults and (key != "embedding" or method == "none")]
        if unused:
            users = [name for name, keys in ADVERSARIAL_DEFAULTS.items()
                     if unused[0] in keys or (unused[0] == "embedding" and name != "none")]
            choices = f"{', '.join(users[:-1])} or {users[-1]}" if len(users) > 1 else users[0]
            raise ValueError(f"{unused[0]} is not a setting of method {method}; remove it, or set method to {choices}")
        return {**defaults, **{key: value for key, value in data.items() if value is not None or key not in defaults}}


class RDropConfig(Section):
    alpha: float = Field(
        0.0, ge=0, le=100, description="R-Drop: weight of the symmetric KL divergence between two dropout passes, "
                                       "added to their mean loss; 0 turns it off. `rdrop: 1.0` is short for this key.")

    @model_validator(mode="before")
    @classmethod
    def _alpha_alone(cls, data: Any) -> Any:
        if isinstance(data, bool):  # checked before numbers: True is an int
            raise ValueError("give R-Drop's weight, e.g. rdrop: 1.0 (0 turns it off)")
        return {"alpha": data} if isinstance(data, (int, float)) else data


class TrainingConfig(Section):
    epochs: int = Field(3, ge=1, le=1000, description="Passes over the training data.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (overrides epochs).")
    lr: float = Field(5e-5, gt=0, le=1, description="Peak learning rate of AdamW (token classification's recipe: 1e-4).")
    head_lr: float | None = Field(None, gt=0, le=1, description="Learning rate of the new task head (default: lr; for sequence and token classification at least 1e-3).")
    layer_decay: float = Field(
        1.0, gt=0, le=1, description="Layer-wise learning-rate decay: each transformer layer trains at this fraction "
                                     "of the rate of the layer above it (the top one at lr times it, the embeddings "
                                     "lowest; pooler and head at their own rate); 1 turns it off.")
    weight_decay: float = Field(0.01, ge=0, le=1, description="AdamW weight decay (not applied to biases and norms).")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps with linear warmup before linear decay.")
    batch_size: int = Field(32, ge=1, description="Most sentences in one batch.")
    max_tokens: int = Field(8192, ge=16, description="Most tokens (padded) in one batch; long batches get fewer sentences.")
    grad_accum: int = Field(1, ge=1, description="Batches whose gradients are summed before each optimizer step.")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Gradient clipping norm; null disables clipping.")
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto", description="bf16 runs forward/backward under bf16 autocast; auto chooses bf16 where the device is "
                            "fast at it (a GPU with bf16, a CPU with AMX or faster bf16 matmuls), else fp32."
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute each layer's activations in the backward pass: less memory, about 30% more compute."
    )
    seed: int = Field(42, description="Seed for initialisation, shuffling and dropout; the same seed repeats a run.")
    eval_every: int | Literal["end"] | None = Field(
        None, description="Evaluate on dev every N optimizer steps; default: each epoch; end: only after the last "
                          "step (each evaluation skipped saves a pass over dev). The last step is always evaluated, "
                          "and a checkpoint is written at each epoch's end either way.")
    metric: str | None = Field(None, description="Dev metric for best checkpoint and early stopping (task default: f1, accuracy, or loss for causal-lm and masked-lm).")
    patience: int | None = Field(None, ge=1, description="Stop after this many evaluations without improvement.")
    log_every: int = Field(20, ge=1, description="Log training loss every N optimizer steps.")
    adversarial: AdversarialConfig = Field(default_factory=AdversarialConfig,
                                           description="Adversarial training on the input embeddings (off by default).")
    rdrop: RDropConfig = Field(default_factory=RDropConfig, description="R-Drop regularisation (off by default).")
    class_weights: str | dict[str, float] | None = Field(
        None, description="Weigh each class in the loss (sequence and token classification, one label per text): "
                          "balanced gives each n / (classes * count) over the training labels, for data whose "
                          "classes are far from even and a macro-averaged score; {label: weight} sets chosen ones "
                          "(the rest weigh 1); null: every example alike."
    )

    @field_validator("eval_every", mode="before")
    @classmethod
    def _steps_or_end(cls, value: Any) -> Any:
        if value is None or value == "end" or (type(value) is int and value >= 1):  # a bool is not a count
            return value
        raise ValueError(f"give a number of optimizer steps (1 or more) or end, not {value!r}")

    @model_validator(mode="after")
    def _patience_needs_evaluations(self) -> TrainingConfig:
        if self.patience is not None and self.eval_every == "end":
            raise ValueError("patience counts evaluations without improvement, and eval_every end evaluates once; "
                             "remove patience or evaluate each epoch (eval_every null) or every N steps")
        return self

    @field_validator("class_weights", mode="before")
    @classmethod
    def _balanced_or_mapping(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "balanced":
            raise ValueError(f"give balanced or a mapping of labels to weights, not {value!r}")
        if isinstance(value, dict):  # checked here so that a bad weight is one line, not one per union member
            for label, weight in value.items():
                if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
                    raise ValueError(f"the weight of {label!r} must be a number above 0, not {weight!r}")
        return value


class EvalConfig(Section):
    mode: Literal["default", "strict"] = Field(
        "default", description="NER entity matching: seqeval's default (lenient) or strict with the label scheme."
    )
    batch_size: int = Field(64, ge=1, description="Most sentences in one evaluation/prediction batch.")
    generate: bool = Field(
        False, description="Causal LM: also generate a reply to each dev/test prompt and score it (exact match, ROUGE-L); slow."
    )
    max_new_tokens: int = Field(128, ge=1, description="Causal LM: most tokens generated per prompt when eval.generate is on.")


class OutOfScopeConfig(Section):
    scorer: Literal["none", "msp", "energy", "knn", "mahalanobis"] = Field(
        "none", description="Out-of-scope detection fitted at the end of training (sequence classification): msp, "
                            "energy, knn or mahalanobis (see docs/out-of-scope.md); none: off."
    )
    label: str = Field("oos", description="Label of the out-of-scope texts in the data files.")
    none_label: str = Field("none", description="Label predicted for a text found out of scope.")
    include_in_training: bool = Field(
        False, description="Train the out-of-scope texts of data.train as a class of their own; false: leave them out "
                           "of the classes (they help choose the threshold when dev has none)."
    )
    target_recall: float = Field(
        0.95, gt=0, le=1, description="Without out-of-scope texts in dev, the threshold keeps this share of the in-scope "
                                      "dev texts in scope (with them: the best out-of-scope F1)."
    )
    k: int = Field(1, ge=1, description="knn: the neighbour whose cosine distance is the score (k=1 beat 10 and 50 on "
                                        "CLINC150's val: AUROC 0.985 against 0.983 and 0.981).")


class OutputConfig(Section):
    dir: str | None = Field(None, description="Run directory; default: runs/<config file name>.")
    merge: bool = Field(False, description="Also save the adapter merged into the base weights (LoRA family, IA3).")
    trackers: list[Literal["tensorboard", "mlflow"]] = Field(
        ["tensorboard"], description="Where loss, learning rate and dev metrics go while training: tensorboard "
                                     "(under <dir>/tensorboard), mlflow (needs pip install 'whet[mlflow]'); [] for none."
    )
    mlflow_uri: str | None = Field(
        None, description="MLflow tracking URI; default: MLFLOW_TRACKING_URI when set, else sqlite:///<dir>/mlflow.db."
    )
    mlflow_experiment: str = Field("whet", description="MLflow experiment the run is logged in (created if new).")
    mlflow_run_name: str | None = Field(None, description="Name of the MLflow run; default: the run directory's name.")

    @field_validator("trackers")
    @classmethod
    def _trackers_usable(cls, trackers: list[str]) -> list[str]:
        import importlib.util

        if len(set(trackers)) < len(trackers):
            raise ValueError(f"{trackers}: list each tracker once")
        # Checked here, so that a missing package is reported by whet validate before any training.
        if "mlflow" in trackers and importlib.util.find_spec("mlflow") is None:
            raise ValueError("mlflow is not installed; pip install 'whet[mlflow]', or remove mlflow from the list")
        return trackers

    @model_validator(mode="after")
    def _mlflow_settings_need_mlflow(self) -> OutputConfig:
        given = [name for name in ("mlflow_uri", "mlflow_run_name") if getattr(self, name) is not None]
        given += ["mlflow_experiment"] if self.mlflow_experiment != "whet" else []
        if given and "mlflow" not in self.trackers:
            raise ValueError(f"{given[0]} is a setting of the mlflow tracker, which trackers does not list; "
                             f"add mlflow to output.trackers or remove output.{given[0]}")
        return self


class RunConfig(Section):
    task: str = Field(..., description="token-classification, sequence-classification, causal-lm, question-answering, "
                                        "multiple-choice or masked-lm.")
    model: str = Field("builtin:minilm", description="builtin:minilm, a local model directory, or a Hugging Face hub id.")
    model_settings: dict[str, bool | int | float | str] = Field(
        default_factory=dict, description="Settings of the model's own configuration (its config.json) changed for "
                                          "this run, such as attention_probs_dropout_prob: 0.0; each must be one the "
                                          "model has. The saved model keeps them.")
    data: DataConfig = Field(default_factory=DataConfig, description="Data files and how to read them.")
    method: MethodConfig = Field(default_factory=MethodConfig, description="Which parameters are fine-tuned.")
    training: TrainingConfig = Field(default_factory=TrainingConfig, description="Optimisation and schedule.")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Evaluation settings.")
    out_of_scope: OutOfScopeConfig = Field(default_factory=OutOfScopeConfig,
                                           description="Detecting texts that belong to none of the labels.")
    output: OutputConfig = Field(default_factory=OutputConfig, description="Where results go.")
    tune: TuneConfig = Field(default_factory=TuneConfig, description="The hyperparameter search of whet tune "
                                                                     "(whet train ignores it; see docs/tuning.md).")

    @model_serializer(mode="wrap")
    def _tune_when_searching(self, dump: Any) -> dict[str, Any]:
        # A run's saved config.yaml (and whet tune's best config) leaves out a search it does not do.
        values = dump(self)
        if not self.tune.params:
            values.pop("tune", None)
        return values

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        from whet.tasks import TASKS

        if task not in TASKS:
            raise ValueError(unknown_name_message("task", task, TASKS.names()))
        return task

    @model_validator(mode="after")
    def _check_method(self) -> RunConfig:
        # Needs the task, so it runs once every field is valid; refuses pairs that cannot train.
        from whet.methods import method_problem

        problem = method_problem(self.method.name, self.task, merge=self.output.merge,
                                 checkpointing=self.training.gradient_checkpointing)
        if problem:
            raise ValueError(problem)
        method = METHODS.get(self.method.name)
        if self.model_settings and (method.recipe or method.build_model):
            raise ValueError(f"model_settings: method {self.method.name} builds its own model, which takes no settings; "
                             f"remove model_settings")
        return self

    @model_validator(mode="after")
    def _check_metric(self) -> RunConfig:
        # Needs the task, so it runs once every field is valid.
        from whet.tasks import TASKS

        task, metric = TASKS.get(self.task), self.training.metric
        if metric is not None and metric not in task.metrics:
            raise ValueError("training.metric: " + unknown_name_message("metric", metric, task.metrics))
        if metric in task.generated_text_metrics and not self.eval.generate:
            others = " or ".join(m for m in task.metrics if m not in task.generated_text_metrics)
            raise ValueError(f"training.metric: {metric} is measured on generated replies; "
                             f"set eval.generate: true, or use {others}")
        if task.generates and self.model.startswith("builtin:"):
            raise ValueError(f"model: {self.model} is an encoder, not a causal language model; set model to a "
                             f"GPT-2 or Llama-style model directory or hub id (e.g. model: gpt2)")
        return self

    @model_validator(mode="after")
    def _check_loss_regularisers(self) -> RunConfig:
        # Both act inside whet's training loop, which a method with a recipe of its own (SetFit) does not use.
        chosen = [key for key, on in (("adversarial", self.training.adversarial.method != "none"),
                                      ("rdrop", self.training.rdrop.alpha > 0),
                                      ("class_weights", self.training.class_weights is not None)) if on]
        if chosen and METHODS.get(self.method.name).recipe is not None:
            raise ValueError(f"training.{chosen[0]}: method {self.method.name} trains with its own recipe, not the "
                             f"training loop that training.{chosen[0]} acts in; remove it or choose another method")
        return self

    @model_validator(mode="after")
    def _check_class_weights(self) -> RunConfig:
        if self.training.class_weights is None:
            return self
        if self.task not in ("sequence-classification", "token-classification") or self.data.multi_label:
            raise ValueError("training.class_weights: needs sequence or token classification with one label per "
                             "text or word; remove it")
        if self.method.name in ("fewshot", "pet"):
            raise ValueError(f"training.class_weights: method {self.method.name} scores label words, not a "
                             f"classification head; remove it or choose another method")
        return self

    @model_validator(mode="after")
    def _check_out_of_scope(self) -> RunConfig:
        scorer = self.out_of_scope.scorer
        if scorer == "none":
            return self
        if self.task != "sequence-classification" or self.data.multi_label:
            raise ValueError(f"out_of_scope.scorer: {scorer} needs single-label sequence classification; set "
                             f"out_of_scope.scorer: none")
        if self.method.name in ("fewshot", "pet"):
            raise ValueError(f"out_of_scope.scorer: method {self.method.name} trains a model of its own, which "
                             f"out-of-scope detection does not score; choose another method or scorer: none")
        return self

    @model_validator(mode="after")
    def _check_augment(self) -> RunConfig:
        # The augmentation methods depend on the task: NER tags follow words only as long as the
        # words are changed one by one (see whet.augment.generation for why not back-translation).
        from whet.data.settings import AUGMENTATIONS

        augment = self.data.augment
        if augment is None:
            return self
        if self.task not in AUGMENTATIONS:
            raise ValueError(f"data.augment: augmentation makes sequence- or token-classification examples, "
                             f"not {self.task} ones; remove data.augment")
        method = augment.method_for(self.task)
        if method == "entities" and self.task != "token-classification":
            raise ValueError("data.augment.method: entities is for token classification (NER); "
                             "use eda, back-translation or paraphrase (or auto) for sequence-classification")
        if method not in AUGMENTATIONS[self.task]:
            why = ("a generated text has other words in another order, so the tags cannot follow it"
                   if method in ("back-translation", "paraphrase") else "its word operations do not keep the tags")
            raise ValueError(f"data.augment.method: {method} is for classification; {why}; "
                             f"use method: entities (or auto) for {self.task}")
        if METHODS.get(self.method.name).recipe is not None:  # SetFit draws its own examples per class
            raise ValueError(f"data.augment: method {self.method.name} trains with its own recipe, which does not "
                             f"augment; remove data.augment, or train on a file written by whet augment")
        return self

    @model_validator(mode="after")
    def _check_single_text_methods(self) -> RunConfig:
        # The task is checked with every method's supported tasks (_check_method); these two
        # classify one text into one label.
        name = self.method.name
        if name in ("fewshot", "pet") and (self.data.multi_label or self.data.text_pair_column):
            raise ValueError(f"method.name: {name} classifies single texts into one label; unset "
                             "data.multi_label and data.text_pair_column or choose another method")
        return self


def _field_names(model: type[BaseModel], path: tuple) -> list[str]:
    """The valid keys at ``path`` (used to suggest a fix for an unknown key)."""
    for part in path:
        if isinstance(part, int):  # an item of a list of sections
            continue
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        elif get_args(annotation) and type(None) in get_args(annotation):  # an optional section (X | None)
            annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _describe(error: dict, root: type[BaseModel] = RunConfig) -> str:
    location = tuple(error["loc"])
    valid = None
    if location[:2] == ("tune", "params") and len(location) > 3:
        # (tune, params, path, tag, key): the tag is the distribution's type, named in the entry itself.
        valid = list(DISTRIBUTIONS[location[3]].model_fields) if location[3] in DISTRIBUTIONS else []
        location = location[:3] + location[4:]
    where = ".".join(str(p) for p in location) or "config"
    if error["type"] in ("union_tag_not_found", "union_tag_invalid"):
        return f"{where}: give the distribution's type: {', '.join(DISTRIBUTIONS)} (got {error.get('input')!r})"
    if error["type"] == "extra_forbidden":
        valid = valid if valid is not None else _field_names(root, location[:-1])
        guess = closest(str(location[-1]), valid)
        hint = f"did you mean '{guess}'?" if guess else f"valid keys: {', '.join(valid)}"
        return f"{where}: unknown key; {hint}"
    if error["type"] == "missing":
        return f"{where}: required field is missing"
    if error["type"] == "string_type" and not_text(error.get("input")):
        return f"{where}: {not_text(error['input'])}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error":
        return f"{where}: {message}" if location else message
    return f"{where}: {message} (got {error.get('input')!r})"


def validation_problems(raw: dict, model: type[BaseModel] = RunConfig) -> list[str]:
    """Every problem in a raw config dict (or another config ``model``), one line each; empty when valid."""
    try:
        config = model.model_validate(raw)
    except ValidationError as err:
        return [_describe(e, model) for e in err.errors()]
    return tune_problems(config) if isinstance(config, RunConfig) else []


DISTRIBUTIONS = {"float": FloatDistribution, "int": IntDistribution, "categorical": CategoricalDistribution}
# Paths a search may not set: the search itself, and where each trial writes (its own directory).
UNTUNABLE = ("tune", "output")


def config_paths(model: type[BaseModel] = RunConfig, prefix: str = "") -> list[str]:
    """Every dotted path to a setting (not a section) of ``model``: ``training.lr``, ``method.lora.r``..."""
    paths = []
    for name, field in model.model_fields.items():
        if not prefix and name in UNTUNABLE:
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths += config_paths(annotation, f"{prefix}{name}.")
        else:
            paths.append(f"{prefix}{name}")
    return paths


def tune_metric(config: RunConfig) -> tuple[str, str]:
    """The dev metric ``whet tune`` optimises and its direction (``maximize`` or ``minimize``)."""
    from whet.tasks import TASKS

    task = TASKS.get(config.task)
    metric = config.tune.metric or config.training.metric or task.default_metric
    return metric, "minimize" if metric in task.lower_is_better else "maximize"


def with_values(config: RunConfig, values: dict[str, Any]) -> dict:
    """The raw config of ``config`` without its search, with each dotted path in ``values`` set and
    ``training.metric`` the metric searched on (so a trial keeps its best checkpoint by it)."""
    raw = config.model_dump()
    raw.pop("tune", None)
    if config.tune.params:
        raw["training"]["metric"] = tune_metric(config)[0]
    for path, value in values.items():
        *sections, key = path.split(".")
        node = raw
        for section in sections:
            node = node.setdefault(section, {})
        node[key] = value
    return raw


def tune_problems(config: RunConfig) -> list[str]:
    """Problems of the ``tune`` section that need the rest of the config: unknown paths, values a
    distribution can give that the field refuses, a metric the task lacks or a direction against it."""
    from whet.tasks import TASKS

    tune = config.tune
    if not tune.params:
        return []
    task, problems = TASKS.get(config.task), []
    metric, direction = tune_metric(config)
    if tune.metric is not None and tune.metric not in task.metrics:
        problems.append("tune.metric: " + unknown_name_message("metric", tune.metric, task.metrics))
    elif tune.metric and config.training.metric and tune.metric != config.training.metric:
        problems.append(f"tune.metric: trials keep their best checkpoint by the metric searched on, but "
                        f"training.metric is {config.training.metric}; set only one of them")
    if tune.direction is not None and tune.direction != direction:
        problems.append(f"tune.direction: {metric} is better {'lower' if direction == 'minimize' else 'higher'}; "
                        f"set direction: {direction} or leave it out")
    if problems:  # the paths are still checked, on the metric the config would train on
        config = config.model_copy(update={"tune": tune.model_copy(update={"metric": None, "direction": None})})
    else:
        problems += [f"tune: {problem}" for problem in validation_problems(with_values(config, {}))]
    valid = config_paths()
    for path, distribution in tune.params.items():
        if path not in valid:
            guess = closest(path, valid)
            hint = f"did you mean '{guess}'?" if guess else "name a setting such as training.lr"
            problems.append(f"tune.params.{path}: unknown config path; {hint}")
            continue
        for value in distribution.candidates():
            refused = validation_problems(with_values(config, {path: value}))
            if refused:
                problems.append(f"tune.params.{path}: the value {value!r} is refused: {refused[0]}")
                break
    return problems


def check_problems(where: str | Path, problems: list[str]) -> None:
    """Raise one ``ConfigError`` listing every problem found in ``where``, one a line."""
    if problems:
        raise ConfigError(problems_message(str(where), problems))


def parse_override(text: str) -> tuple[list[str], Any]:
    """``training.lr=3e-5`` -> (["training", "lr"], "3e-5"); values are parsed as YAML, as in a
    file (``data.label_column=yes`` stays text, ``eval.generate=true`` is a boolean), and the
    config model then converts them to the field types."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set training.lr=3e-5")
    try:
        parsed = load_yaml(value) if value.strip() else None
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({problem}); put it in quotes") from None
    return key.strip().split("."), parsed


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
        raw = load_yaml(path.read_text(encoding="utf-8"))
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


def read_validated(path: Path, overrides: list[str] | None, model: type[BaseModel]) -> Any:
    """Read, override and validate a YAML file as ``model``; raise ``ConfigError`` listing every problem."""
    raw = apply_overrides(read_yaml(path), overrides or [])
    check_problems(path, validation_problems(raw, model))
    return model.model_validate(raw)


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and validate a run config; raise ``ConfigError`` listing every problem."""
    path = Path(path)
    config = resolve_paths(read_validated(path, overrides, RunConfig), path.parent)
    if config.output.dir is None:
        config.output.dir = str(Path("runs") / path.stem)
    return config


def save_config(config: RunConfig, path: Path) -> None:
    from whet.io.atomic import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(config.model_dump(), sort_keys=False))
