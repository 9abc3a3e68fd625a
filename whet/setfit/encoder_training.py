"""``method: fewshot``: SetFit (Tunstall et al., 2022) on sentence-transformers.

1. Contrastive fine-tuning: the sentence encoder learns from pairs of the labelled examples
   (same label: cosine similarity pushed to 1, different labels: to 0; CosineSimilarityLoss).
2. A logistic-regression head (scikit-learn, multinomial, L2) is fitted on the fine-tuned
   encoder's embeddings of the same examples.

The head's coefficients become a linear layer, so the saved model is a
``SentenceClassifier`` in safetensors that whet loads, evaluates and serves like any
other (nothing is pickled). The ``setfit`` package itself is not used: it stores its head
with pickle and needs ``datasets``; the method is these few steps.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from whet.config import RunConfig, save_config
from whet.errors import ConfigError, WhetError
from whet.training.trackers.base import Tracker

log = logging.getLogger("whet")


def train(config: RunConfig, *, resume: bool = False) -> dict:
    """Train a few-shot classifier as ``config`` says; return the dev (and test) metrics."""
    from transformers import set_seed

    from whet.data.prepare import load_run_data
    from whet.setfit.pairs import contrastive_pairs
    from whet.setfit.shots import sample_per_class
    from whet.io.atomic import existing_directory
    from whet.models.precision import resolve_precision
    from whet.models.pretrained import load_tokenizer
    from whet.models.sentence_model import SentenceClassifier, embed, load_sentence_encoder
    from whet.tasks import TASKS
    from whet.training.finish import finish_run
    from whet.training.gradient_checkpointing import disable_gradient_checkpointing, enable_gradient_checkpointing
    from whet.training.loop import LoopState
    from whet.training.trackers import tracking

    settings, seed = config.method.fewshot, config.training.seed
    if resume:
        raise ConfigError("method fewshot trains in one go and keeps no checkpoints; run it again without --resume")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("method fewshot trains in one process; run it without --processes")
    run_dir = Path(config.output.dir)
    if existing_directory(run_dir / "model") is not None:
        raise WhetError(f"{run_dir} already holds a model; choose another output.dir (--set output.dir=...)")
    set_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    task = TASKS.get(config.task)

    # Data: with a few examples per class each one counts, so dev is never split off train.
    data = load_run_data(task, config.data, seed, split_dev=False)
    if settings.shots:
        data.train = sample_per_class(data.train, settings.shots, seed, source=str(config.data.train),
                                      setting="method.fewshot.shots")
    label_ids = {label: i for i, label in enumerate(data.labels)}
    texts = [ex.text for ex in data.train]
    targets = [label_ids[ex.labels[0]] for ex in data.train]
    log.info("fewshot: %d training examples, %d labels, %d dev examples", len(texts), len(data.labels),
             len(data.dev))

    encoder = load_sentence_encoder(config.model, device)
    tokenizer = load_tokenizer(config.model)
    max_length = min(config.data.max_length or 10**9, encoder.max_seq_length or 512)
    encoder.max_seq_length = max_length
    pairs = contrastive_pairs(texts, targets, settings.pair_iterations, seed)[:settings.max_pairs]  # shuffled
    precision = resolve_precision(config.training.precision, device)
    state = LoopState()
    # The trackers follow the run from its first step to its saved model.
    with tracking(config.output.trackers, run_dir, resume=False, output=config.output,
                  params=config.model_dump()) as trackers:
        started = time.perf_counter()
        if config.training.gradient_checkpointing:
            enable_gradient_checkpointing(encoder)
        from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

        fine_tune_encoder(encoder, shuffled_batches(len(pairs), settings.batch_size, settings.epochs, seed),
                          lambda rows: pair_inputs([pairs[i] for i in rows]), CosineSimilarityLoss(encoder),
                          lr=settings.lr, warmup_ratio=config.training.warmup_ratio,
                          max_grad_norm=config.training.max_grad_norm, log_every=config.training.log_every,
                          state=state, trackers=trackers, precision=precision)
        if config.training.gradient_checkpointing:
            disable_gradient_checkpointing(encoder)
        weight, bias = fit_logistic_head(embed(encoder, texts), targets, len(data.labels), c=settings.head_c,
                                         seed=seed)
        seconds = time.perf_counter() - started
        log.info("fewshot: %d pairs, encoder and head trained in %.1fs", len(pairs), seconds)
        model = SentenceClassifier(encoder, weight, bias).to(device).eval()

        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        collate = functools.partial(task.collate, pad_token_id=pad_id)
        return finish_run(run_dir, model, tokenizer, config, task, data, collate, device, max_length, state,
                          merge=False, train_seconds=seconds, trackers=trackers, precision=precision)


def shuffled_batches(rows: int, batch_size: int, epochs: int, seed: int) -> list[list[list[int]]]:
    """Row numbers in batches, reshuffled each epoch: ``[epoch][batch] -> rows``."""
    rng, order = random.Random(seed), list(range(rows))
    epochs_of_batches = []
    for _ in range(epochs):
        rng.shuffle(order)
        epochs_of_batches.append([order[start:start + batch_size] for start in range(0, rows, batch_size)])
    return epochs_of_batches


def pair_inputs(batch: list) -> tuple[list[list[str]], torch.Tensor]:
    """A batch of SetFit pairs as CosineSimilarityLoss takes it: both sides' texts and the similarities."""
    return [[p.first for p in batch], [p.second for p in batch]], torch.tensor([p.similarity for p in batch])


def fine_tune_encoder(encoder: Any, epochs_of_batches: list[list[list[int]]],
                      batch_inputs: Callable[[list[int]], tuple[list[list[str]], torch.Tensor | None]],
                      loss_fn: Any, *, lr: float, warmup_ratio: float, max_grad_norm: float | None, log_every: int,
                      state: Any, trackers: Sequence[Tracker] = (), tokenize: bool = True,
                      precision: str = "fp32") -> None:
    """Contrastive fine-tuning with a sentence-transformers loss over the given batches of rows.

    ``batch_inputs`` turns a batch's row numbers into the loss's columns of texts (anchors,
    positives, negatives...) and its labels (``None`` for losses without them). The loss history
    goes to ``state`` and ``trackers``. (sentence-transformers' own trainer needs the ``datasets``
    package, which whet does not depend on; these few lines are its loop.) ``tokenize=False``
    hands the loss the texts themselves: cross-encoder losses tokenize each (query, document) pair.
    ``precision`` ``bf16`` runs the forward passes and the loss under bf16 autocast (the weights
    and the optimizer stay float32), as whet's own training loop does.
    """
    from whet.models.inference import autocast, move_to
    from whet.training.fit import record_history
    from whet.training.loop import StepEvent
    from whet.training.optimizer import linear_schedule
    from whet.training.progress import TrainingProgress

    total_steps = sum(len(batches) for batches in epochs_of_batches)
    optimizer = torch.optim.AdamW([p for p in encoder.parameters() if p.requires_grad], lr=lr)
    scheduler = linear_schedule(optimizer, warmup_ratio=warmup_ratio, total_steps=total_steps)
    # sentence-transformers 6 renamed ``tokenize`` (tokens plus the modality key) to ``preprocess``.
    prepare = getattr(encoder, "preprocess", None) or encoder.tokenize
    encoder.train()
    running, sentences, tick = 0.0, 0, time.perf_counter()
    with TrainingProgress(total_steps) as progress:
        for epoch, batches in enumerate(epochs_of_batches):
            for number, rows in enumerate(batches):
                columns, labels = batch_inputs(rows)
                features = [move_to(prepare(texts), encoder.device) for texts in columns] if tokenize else columns
                with autocast(encoder.device, precision):
                    loss = loss_fn(features, labels.to(encoder.device) if labels is not None else None)
                loss.backward()
                if max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(encoder.parameters(), max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.step += 1
                running += loss.detach().item()
                sentences += sum(len(texts) for texts in columns)
                if state.step % log_every == 0 or state.step == total_steps:
                    elapsed = max(time.perf_counter() - tick, 1e-9)
                    count = (state.step - 1) % log_every + 1
                    event = StepEvent(step=state.step, epoch=epoch + number / len(batches), loss=running / count,
                                      sentences_per_second=sentences / elapsed)
                    progress.update(event)
                    lr = scheduler.get_last_lr()[0]
                    record_history(state.history, event, lr)
                    for tracker in trackers:
                        tracker.log_step(event, lr)
                    running, sentences, tick = 0.0, 0, time.perf_counter()
    state.epoch, state.best_step = len(epochs_of_batches), state.step
    encoder.eval()


def fit_logistic_head(embeddings: np.ndarray, targets: list[int], num_labels: int, *, c: float,
                      seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression on the embeddings, as a (labels, dim) weight and a bias.

    softmax(weight @ x + bias) equals scikit-learn's ``predict_proba``. With two labels
    scikit-learn fits one logit z for the second label; the rows [0, z] give the same
    probabilities under softmax.
    """
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(embeddings, targets)
    weight = np.zeros((num_labels, embeddings.shape[1]), dtype=np.float32)
    bias = np.zeros(num_labels, dtype=np.float32)
    if len(head.classes_) == 2 and head.coef_.shape[0] == 1:
        weight[head.classes_[1]], bias[head.classes_[1]] = head.coef_[0], head.intercept_[0]
    else:
        for row, label in enumerate(head.classes_):
            weight[label], bias[label] = head.coef_[row], head.intercept_[row]
    return torch.from_numpy(weight), torch.from_numpy(bias)
