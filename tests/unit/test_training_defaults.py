from __future__ import annotations

from whet.config import TrainingConfig
from whet.tasks import TASKS
from whet.training.optimizer import build_optimizer
from whet.training.setup import with_task_defaults


def test_sequence_classification_head_trains_at_the_floor_by_default():
    task = TASKS.get("sequence-classification")
    assert with_task_defaults(TrainingConfig(), task).head_lr == task.head_lr_floor == 1e-3
    # what the user sets wins, and a body lr above the floor trains the head too
    assert with_task_defaults(TrainingConfig(head_lr=2e-4), task).head_lr == 2e-4
    assert with_task_defaults(TrainingConfig(lr=3e-3), task).head_lr is None


def test_other_tasks_train_the_head_at_lr():
    for name in ("token-classification", "question-answering", "multiple-choice", "causal-lm"):
        assert with_task_defaults(TrainingConfig(), TASKS.get(name)).head_lr is None


def test_optimizer_gives_the_head_its_own_rate():
    import transformers

    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, num_labels=3)
    model = transformers.BertForSequenceClassification(config)
    training = with_task_defaults(TrainingConfig(), TASKS.get("sequence-classification"))
    optimizer = build_optimizer(model, lr=training.lr, head_lr=training.head_lr, weight_decay=0.01,
                                heads=["classifier"])
    head = {id(p) for p in model.classifier.parameters()}
    for group in optimizer.param_groups:
        is_head = {id(p) for p in group["params"]} <= head
        assert group["lr"] == (1e-3 if is_head else 5e-5)
    assert any({id(p) for p in g["params"]} <= head for g in optimizer.param_groups)
