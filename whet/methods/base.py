"""The seam every fine-tuning method fills: a record of plain functions and facts.

A method module builds one ``Method`` and registers it in ``whet.methods``. Everything in
it except ``apply`` and the hooks is data, read at config validation time without torch,
so ``whet validate`` can refuse a method x task pair that cannot work before any model loads.
A method with settings defines them as a ``MethodSettings`` class in its module; the run
config's ``method`` section takes them under ``method.<section>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict


class MethodSettings(BaseModel):
    """Base of a method's settings: every field has a default and a one-line description, and
    unknown keys are errors, as in every other config section."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


@dataclass(frozen=True)
class Method:
    name: str
    # apply(model, settings, peft_task_type, *, total_steps) -> model whose trainable parameters are the method's
    apply: Callable[..., Any]
    # Task names this method can train; None means every task (full fine-tuning).
    tasks: frozenset[str] | None
    summary: str  # what trains, for tables and messages
    section: str | None = None  # the ``method.<section>`` config block holding its settings
    settings: type[MethodSettings] | None = None  # the class of that block; given together with ``section``
    merges: bool = False  # ``whet export --merge`` can fold it into the base weights
    # Positions the method puts before the input (prompt and prefix tokens): windows shrink by this many.
    virtual_tokens: Callable[[Any], int] | None = None
    # step_callback(model) -> fn(step) called after each optimizer step, before gradients are cleared.
    step_callback: Callable[[Any], Callable[[int], None] | None] | None = None
    # finish(model): once training ends, before the final evaluation and saving.
    finish: Callable[[Any], None] | None = None
    why_not: Mapping[str, str] = field(default_factory=dict)  # task -> why it is refused, shown in the error
    # Why it cannot train with training.gradient_checkpointing; None where it can.
    why_not_checkpointing: str | None = None
    # unavailable(task) -> why the installed libraries cannot train it (with the fix), or None.
    # Unlike ``why_not`` this depends on versions, so the support tables still list the task.
    unavailable: Callable[[str], str | None] | None = None
    # recipe(config, *, resume) -> results: a method with a training recipe of its own (SetFit)
    # takes the run instead of the shared loop.
    recipe: Callable[..., dict] | None = None
    # build_model(model name, tokenizer, labels, settings) -> the model to train, in place of the
    # task's model with a new head (PET's masked LM with its pattern).
    build_model: Callable[..., Any] | None = None
    # input_tokens(settings, tokenizer, labels) -> positions the method adds to every window once
    # the labels are known (PET's pattern around the text): windows shrink by this many.
    input_tokens: Callable[..., int] | None = None
    # load_saved(model directory, tokenizer, labels) -> model, for methods whose models are a class
    # of their own; they save themselves (``save_pretrained``) and are not quantized to int8.
    load_saved: Callable[..., Any] | None = None

    def supports(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks


# The tasks the support tables speak of. A task registered later is refused by every method
# except full until the methods that suit it list it.
HEAD_TASKS = frozenset({"sequence-classification", "token-classification", "question-answering", "multiple-choice"})
CAUSAL_LM = "causal-lm"
EVERY_TASK = HEAD_TASKS | {CAUSAL_LM}
