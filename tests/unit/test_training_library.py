"""The pieces of whet/training that whet train, whet continual and few-shot training share:
steps counted once from the batches, the handlers between loop steps, evaluation settings
read from a run's sections, where each process writes its checkpoint."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.continual_data import write_plan
from whet.config import DataConfig, EvalConfig, TrainingConfig
from whet.errors import ConfigError, Interrupted
from whet.training.batches import training_batches
from whet.training.checkpoints import checkpoint_paths
from whet.training.evaluation import eval_settings
from whet.training.fit import dev_line, out_of_patience, record_history, stop_if_asked
from whet.training.interrupt import STOP
from whet.training.loop import LoopState, StepEvent


def features(lengths: list[int]) -> list[dict]:
    return [{"input_ids": [1] * n, "example": i} for i, n in enumerate(lengths)]


def test_steps_are_counted_once_from_the_batches_of_an_epoch():
    training = TrainingConfig(batch_size=4, epochs=3, grad_accum=2)
    batches = training_batches(features([8] * 40), lambda fs: fs, training)
    assert len(batches.sampler.epoch_batches) == 10
    assert batches.steps == 3 * math.ceil(10 / 2)
    capped = training_batches(features([8] * 40), lambda fs: fs, training.model_copy(update={"max_steps": 4}))
    assert capped.steps == 4


def test_every_process_takes_the_same_number_of_steps():
    training = TrainingConfig(batch_size=4, epochs=2)
    steps = {training_batches(features([8] * 42), lambda fs: fs, training, rank=rank, world_size=3).steps
             for rank in range(3)}
    assert steps == {2 * 3}  # 11 batches: the ragged tail is dropped so each of 3 processes gets 3


def test_history_records_the_loss_then_the_dev_metrics_of_an_evaluating_step():
    history: list[dict] = []
    record_history(history, StepEvent(step=3, epoch=0.123456, loss=0.5, sentences_per_second=1.0), lr=1e-3)
    record_history(history, StepEvent(step=4, epoch=1.0, loss=0.25, sentences_per_second=1.0,
                                      metrics={"accuracy": 0.5}, is_best=True), lr=5e-4)
    assert history == [{"step": 3, "epoch": 0.1235, "train_loss": 0.5, "lr": 1e-3},
                       {"step": 4, "epoch": 1.0, "train_loss": 0.25, "lr": 5e-4},
                       {"step": 4, "epoch": 1.0, "dev_accuracy": 0.5}]


def test_dev_line_marks_the_best_evaluation():
    event = StepEvent(step=6, epoch=1.5, loss=0.1, sentences_per_second=1.0, metrics={"f1": 0.25, "loss": 2.0},
                      is_best=True)
    assert dev_line(event) == "step 6 epoch 1.50 dev f1=0.2500 loss=2.0000 (best)"


def test_patience_counts_evaluations_without_improvement():
    evaluated = StepEvent(step=6, epoch=1.0, loss=0.1, sentences_per_second=1.0, metrics={"f1": 0.2})
    not_evaluated = StepEvent(step=7, epoch=1.1, loss=0.1, sentences_per_second=1.0)
    tired = LoopState(evals_without_improvement=2)
    assert out_of_patience(evaluated, tired, patience=2)
    assert not out_of_patience(evaluated, LoopState(evals_without_improvement=1), patience=2)
    assert not out_of_patience(not_evaluated, tired, patience=2)
    assert not out_of_patience(evaluated, tired, patience=None)


def test_a_requested_stop_saves_then_says_how_to_continue():
    saved = []
    event = StepEvent(step=5, epoch=1.0, loss=0.1, sentences_per_second=1.0)
    stop_if_asked(event, lambda: saved.append(True))
    assert saved == []
    STOP.set()
    try:
        with pytest.raises(Interrupted, match="interrupted at step 5; continue with --resume"):
            stop_if_asked(event, lambda: saved.append(True))
    finally:
        STOP.clear()
    assert saved == [True]


def test_evaluation_reads_its_values_from_the_sections():
    data = DataConfig(label_scheme="bioes")
    settings = eval_settings(EvalConfig(batch_size=16, mode="strict"), TrainingConfig(max_tokens=1000,
                                                                                      precision="bf16"), data)
    assert (settings.batch_size, settings.max_tokens, settings.precision, settings.mode) == (16, 2000, "bf16", "strict")
    assert settings.data is data and not settings.generate


def test_the_main_process_writes_the_checkpoint_and_the_others_their_random_state(tmp_path):
    main, other = checkpoint_paths(tmp_path, 0), checkpoint_paths(tmp_path, 2)
    assert main.last == other.last == tmp_path / "checkpoints" / "last"
    assert main.best == tmp_path / "checkpoints" / "best"
    assert main.process_rng is None and other.process_rng == tmp_path / "checkpoints" / "last-rng-2"


def test_a_continual_plan_is_refused_a_method_that_cannot_train_its_task(tmp_path):
    from whet.continual.plan import load_plan
    from whet.continual.runner import check_method

    path = write_plan(tmp_path, Path("model"), {"one": ["PER"], "two": ["LOC"]}, task="token-classification",
                      method={"name": "prompt-tuning"})
    with pytest.raises(ConfigError, match="method 'prompt-tuning' cannot train task 'token-classification'"):
        check_method(load_plan(path))
