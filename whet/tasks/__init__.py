"""Tasks: each module under this package is one task (head, preprocessing, decoding, metrics).

A task module exposes ``TASK``, an object following :class:`whet.tasks.base.Task`.
"""

from whet.registry import Registry

TASKS = Registry("task")
TASKS.register("token-classification", "whet.tasks.token_classification:TASK")
TASKS.register("sequence-classification", "whet.tasks.sequence_classification:TASK")
TASKS.register("causal-lm", "whet.tasks.causal_lm:TASK")
TASKS.register("question-answering", "whet.tasks.question_answering:TASK")
TASKS.register("multiple-choice", "whet.tasks.multiple_choice:TASK")

# The dev metrics each task reports, known without importing the task (config validation).
TASK_METRICS = {
    "token-classification": ("f1", "precision", "recall", "macro_f1", "accuracy", "loss"),
    "sequence-classification": ("accuracy", "macro_f1", "f1", "loss"),
    "causal-lm": ("loss", "perplexity", "exact_match", "rouge_l"),
    "question-answering": ("f1", "exact_match", "loss"),
    "multiple-choice": ("accuracy", "loss"),
}
DEFAULT_METRIC = {"token-classification": "f1", "sequence-classification": "accuracy", "causal-lm": "loss",
                  "question-answering": "f1", "multiple-choice": "accuracy"}
