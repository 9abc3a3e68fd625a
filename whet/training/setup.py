"""The set-up ``whet train`` and ``whet continual`` share, in the order they need it: the
training settings with the task's defaults, the tokenizer and the window length (the method
may take positions from every window), the model to train, then the method applied to it.
"""

from __future__ import annotations

import logging
from typing import Any

from whet.config import DataConfig, MethodConfig, TrainingConfig
from whet.errors import ConfigError, WhetError

log = logging.getLogger("whet")


def with_task_defaults(training: TrainingConfig, task: Any) -> TrainingConfig:
    """``training`` with the task's recipe (``task.training_defaults``) for every setting the config
    leaves unset, and the task's default head learning rate where none is set: at least
    ``task.head_lr_floor`` (tasks without a floor train the head at ``lr``)."""
    recipe = {key: value for key, value in task.training_defaults.items() if key not in training.model_fields_set}
    if recipe:
        log.info("%s recipe: %s (set in training: to change)", task.name,
                 ", ".join(f"{key} {value}" for key, value in recipe.items()))
        training = training.model_copy(update=recipe)
    floor = task.head_lr_floor
    if training.head_lr is not None or floor is None or training.lr >= floor:
        return training
    log.info("the new %s head trains at lr %g (training.head_lr sets another)", task.name, floor)
    return training.model_copy(update={"head_lr": floor})


def method_settings(method_config: MethodConfig) -> Any:
    """The configured method's own settings (``method.<section>``), or None for a method without any."""
    from whet.methods import METHODS

    method = METHODS.get(method_config.name)
    return getattr(method_config, method.section) if method.section else None


def window_length(configured: int | None, model_limit: int, virtual_tokens: int) -> int:
    """Tokens per input window: the configured length within the model's limit, less the
    positions a prompt or prefix method puts before the input."""
    length = min(configured or 10**9, model_limit - virtual_tokens)
    if length < 16:
        raise WhetError(f"the model takes {model_limit} positions and the method adds {virtual_tokens} virtual tokens, "
                        f"leaving {model_limit - virtual_tokens} for the input; lower num_virtual_tokens")
    return length


def load_tokenizer_and_window(model: str, task: Any, data: DataConfig, method_config: MethodConfig) -> tuple[Any, int]:
    """The tokenizer of ``model``, and the tokens per input window (``data.max_length`` within the
    model's limit, less the method's virtual tokens)."""
    from whet.methods import METHODS
    from whet.models.pretrained import load_config as load_model_config
    from whet.models.pretrained import load_tokenizer, model_max_length

    method = METHODS.get(method_config.name)
    tokenizer = load_tokenizer(model)
    model_config = load_model_config(model)
    if task.prepare is not None:  # e.g. a pad token for a causal LM that ships none, before encoding
        task.prepare(tokenizer, model_config, data)
    virtual_tokens = method.virtual_tokens(method_settings(method_config)) if method.virtual_tokens else 0
    return tokenizer, window_length(data.max_length, model_max_length(tokenizer, model_config), virtual_tokens)


def build_model(name: str, task: Any, labels: list[str], data: DataConfig, *, method_config: MethodConfig | None = None,
                tokenizer: Any = None, model_settings: dict[str, Any] | None = None) -> Any:
    """The model to train: the pretrained body plus a new head sized for ``labels``, or the
    method's own model (such as PET's masked LM, which has no new head). ``model_settings``
    (the config's ``model_settings``) change settings of the model's own configuration."""
    import transformers

    from whet.methods import METHODS
    from whet.models.pretrained import load_model

    method = METHODS.get(method_config.name) if method_config is not None else None
    if method is not None and method.build_model:
        return method.build_model(name, tokenizer, labels, method_settings(method_config))
    task_settings = task.model_kwargs(labels, data)
    taken = sorted(set(model_settings or {}) & set(task_settings))
    if taken:
        raise ConfigError(f"model_settings.{taken[0]}: whet sets it for the {task.name} task (from the labels and "
                          f"data); remove it from model_settings")
    check_model_settings(name, model_settings or {})
    model, loading = load_model(getattr(transformers, task.auto_class), name, output_loading_info=True,
                                **task_settings, **(model_settings or {}))
    log_new_weights(model, name, sorted(loading["missing_keys"]))
    return model


def check_model_settings(name: str, settings: dict[str, Any]) -> None:
    """Refuse a setting the model's configuration does not have (transformers would pass it on to
    the model's constructor, which fails far from the cause), naming the dropout settings it has."""
    if not settings:
        return
    from whet.models.pretrained import load_config as load_model_config

    model_config = load_model_config(name)
    unknown = [key for key in settings if not hasattr(model_config, key)]
    if unknown:
        dropouts = sorted(key for key in model_config.to_dict() if "drop" in key)
        raise ConfigError(f"model_settings.{unknown[0]}: {type(model_config).__name__} has no such setting"
                          + (f"; its dropout settings are {', '.join(dropouts)}" if dropouts else ""))
    log.info("model settings: %s", ", ".join(f"{key} {value}" for key, value in settings.items()))


def log_new_weights(model: Any, name: str, missing: list[str]) -> None:
    """Say which weights the checkpoint lacked (a new head), and whether the output layer is tied
    to the input embeddings (a new MLM head's decoder is: it starts as the pretrained vocabulary)."""
    if not missing:
        return
    log.info("%s has no weights for %s: newly initialised", name, ", ".join(missing))
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None and output.weight is model.get_input_embeddings().weight:
        log.info("the output layer's weight is tied to the input embeddings")


def apply_method(model: Any, method_config: MethodConfig, task_name: str, peft_task_type: str | None,
                 total_steps: int) -> Any:
    """The model with the configured method applied (what trains, and any adapter added).
    ``total_steps``: the optimizer steps of the run (AdaLoRA's rank schedule needs them)."""
    from whet.methods import METHODS
    from whet.methods.trainable import count_parameters

    method = METHODS.get(method_config.name)
    model = method.apply(model, method_settings(method_config), peft_task_type, total_steps=total_steps)
    trainable, total = count_parameters(model)
    if trainable == 0:
        raise ConfigError(f"method {method_config.name} trains no parameter of this {task_name} model "
                          f"(it has no new task head, or no biases); choose another method.name")
    log.info("method %s: training %s of %s parameters (%.2f%%)", method_config.name, f"{trainable:,}",
             f"{total:,}", 100 * trainable / total)
    return model
