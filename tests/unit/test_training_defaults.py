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
    for name in ("question-answering", "multiple-choice", "causal-lm"):
        training = with_task_defaults(TrainingConfig(), TASKS.get(name))
        assert training.head_lr is None and training.lr == 5e-5


def test_token_classification_recipe_fills_only_what_the_config_leaves_unset():
    task = TASKS.get("token-classification")
    training = with_task_defaults(TrainingConfig(), task)
    assert (training.lr, training.head_lr) == (1e-4, 1e-3)
    # a learning rate the config names is kept, even one equal to the general default
    assert with_task_defaults(TrainingConfig(lr=5e-5), task).lr == 5e-5
    assert with_task_defaults(TrainingConfig.model_validate({"lr": 5e-5, "epochs": 2}), task).lr == 5e-5
    assert with_task_defaults(TrainingConfig(lr=3e-3), task).head_lr is None


def test_recipe_comes_from_the_config_file_too(tmp_path):
    from whet.config import load_config

    path = tmp_path / "run.yaml"
    path.write_text("task: token-classification\ndata: {train: train.txt}\ntraining: {lr: 2.0e-5}\n")
    task = TASKS.get("token-classification")
    assert with_task_defaults(load_config(path).training, task).lr == 2e-5
    assert with_task_defaults(load_config(path, ["training.epochs=1"]).training, task).lr == 2e-5
    path.write_text("task: token-classification\ndata: {train: train.txt}\n")
    assert with_task_defaults(load_config(path, ["training.epochs=1"]).training, task).lr == 1e-4


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
