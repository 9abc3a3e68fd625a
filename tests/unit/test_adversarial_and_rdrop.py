"""Adversarial training (FGM, PGD, FreeLB) and R-Drop on a tiny random BERT built in memory:
each changes the gradients, FGM matches a hand-made perturbed forward pass, the embeddings come
out untouched, frozen embeddings are perturbed too; R-Drop's divergence is zero without dropout."""

from __future__ import annotations

import contextlib

import pytest
import torch

from whet.config import TrainingConfig
from whet.errors import ConfigError
from whet.training.adversarial import (adversarial_pass, fgm_pass, freelb_pass, input_embeddings, pgd_pass,
                                       plain_pass, project, step_along)
from whet.training.rdrop import divergence, labelled_rows, rdrop_loss


def tiny_model(kind: str = "sequence", dropout: float = 0.0, labels: int = 3) -> torch.nn.Module:
    from transformers import BertConfig, BertForSequenceClassification, BertForTokenClassification

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, num_labels=labels,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    torch.manual_seed(0)
    model = (BertForSequenceClassification if kind == "sequence" else BertForTokenClassification)(config)
    return model.train()


def batch(kind: str = "sequence") -> dict:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 50, (4, 7), generator=generator)
    mask = torch.ones_like(ids)
    mask[2:, 5:] = 0  # two padded sequences
    labels = torch.tensor([0, 1, 2, 1]) if kind == "sequence" else torch.randint(0, 3, (4, 7), generator=generator)
    if kind != "sequence":
        labels[mask == 0] = -100
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def model_loss(model, inputs):
    return model(**inputs).loss


def gradients(model, method, inputs, loss_of=model_loss):
    """The summed parameter gradients of one pass, and the loss it reports."""
    model.zero_grad(set_to_none=True)
    loss = method(model, inputs, loss_of, lambda loss: loss.backward(), contextlib.nullcontext)
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}, loss


def embeds_loss(model, inputs, delta):
    """The loss with ``delta`` added to the word embeddings by hand (BERT takes inputs_embeds)."""
    embedded = model.get_input_embeddings()(inputs["input_ids"]) + delta
    return model(inputs_embeds=embedded, attention_mask=inputs["attention_mask"], labels=inputs["labels"]).loss


METHODS = {
    "fgm": lambda embedding: lambda *a: fgm_pass(*a, embedding=embedding, epsilon=1.0),
    "pgd": lambda embedding: lambda *a: pgd_pass(*a, embedding=embedding, epsilon=1.0, alpha=0.4, steps=3),
    "freelb": lambda embedding: lambda *a: freelb_pass(*a, embedding=embedding, epsilon=None, alpha=0.3, steps=3,
                                                       init_magnitude=0.2),
}


@pytest.mark.parametrize("name", sorted(METHODS))
@pytest.mark.parametrize("kind", ["sequence", "token"])
def test_each_method_changes_the_gradients_and_leaves_the_embeddings_as_they_were(name, kind):
    model, inputs = tiny_model(kind), batch(kind)
    embedding = model.get_input_embeddings()
    weights = embedding.weight.detach().clone()
    clean, clean_loss = gradients(model, plain_pass, inputs)
    adversarial, loss = gradients(model, METHODS[name](embedding), inputs)
    assert clean.keys() == adversarial.keys()
    differences = [(adversarial[n] - clean[n]).abs().max() for n in clean]
    assert max(differences) > 1e-4
    if name != "freelb":  # FGM and PGD report the clean loss (and add to its gradients)
        assert loss.item() == pytest.approx(clean_loss.item(), abs=1e-6)
    assert torch.equal(embedding.weight, weights)
    assert not embedding._forward_hooks  # the perturbation is gone: the next pass is clean again
    assert gradients(model, plain_pass, inputs)[1].item() == pytest.approx(clean_loss.item(), abs=1e-6)


def test_fgm_adds_the_gradients_at_a_step_of_norm_epsilon_along_the_input_gradient():
    model, inputs = tiny_model(), batch()
    embedded = model.get_input_embeddings()(inputs["input_ids"]).detach()
    # The reference, by hand: the input gradient, its per-sequence step, both losses' gradients.
    delta = torch.zeros_like(embedded, requires_grad=True)
    (input_gradient,) = torch.autograd.grad(embeds_loss(model, inputs, delta), delta)
    r = 0.5 * input_gradient / input_gradient.flatten(1).norm(dim=1)[:, None, None]
    model.zero_grad()
    (embeds_loss(model, inputs, 0) + embeds_loss(model, inputs, r)).backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    got, _ = gradients(model, lambda *a: fgm_pass(*a, embedding=model.get_input_embeddings(), epsilon=0.5), inputs)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value, rtol=1e-4, atol=1e-6)


def test_one_pgd_step_is_fgm_and_freelb_without_noise_in_one_step_is_plain_training():
    model, inputs = tiny_model(), batch()
    embedding = model.get_input_embeddings()
    fgm, _ = gradients(model, lambda *a: fgm_pass(*a, embedding=embedding, epsilon=0.3), inputs)
    pgd, _ = gradients(model, lambda *a: pgd_pass(*a, embedding=embedding, epsilon=1.0, alpha=0.3, steps=1), inputs)
    plain, _ = gradients(model, plain_pass, inputs)
    free, _ = gradients(model, lambda *a: freelb_pass(*a, embedding=embedding, epsilon=None, alpha=0.3, steps=1,
                                                      init_magnitude=0.0), inputs)
    for name in plain:
        torch.testing.assert_close(pgd[name], fgm[name])
        torch.testing.assert_close(free[name], plain[name])


def test_freelb_averages_its_steps_so_the_gradients_keep_the_scale_of_one_pass():
    model, inputs = tiny_model(), batch()
    embedding = model.get_input_embeddings()
    plain, _ = gradients(model, plain_pass, inputs)
    free, _ = gradients(model, lambda *a: freelb_pass(*a, embedding=embedding, epsilon=1e-4, alpha=1e-4, steps=4,
                                                      init_magnitude=0.0), inputs)
    # Tiny perturbations (the embeddings' norm is about 0.2 a sequence): four steps' gradients,
    # each divided by four, add up to about one pass's (summed, they would be four times as large).
    flat_free = torch.cat([free[name].flatten() for name in plain])
    flat_plain = torch.cat([plain[name].flatten() for name in plain])
    assert flat_free.norm() / flat_plain.norm() == pytest.approx(1.0, abs=0.01)
    assert torch.nn.functional.cosine_similarity(flat_free, flat_plain, dim=0) > 0.999


def test_steps_and_projection_are_per_sequence_l2_norms():
    gradient = torch.randn(3, 5, 4)
    gradient[1] = 0.0  # a sequence without gradient (no labelled token) is not perturbed
    step = step_along(gradient, 0.7)
    torch.testing.assert_close(step.flatten(1).norm(dim=1), torch.tensor([0.7, 0.0, 0.7]))
    big = torch.randn(3, 5, 4) * 10
    small = torch.randn(3, 5, 4) * 1e-3
    torch.testing.assert_close(project(big, 2.0).flatten(1).norm(dim=1), torch.full((3,), 2.0))
    assert torch.equal(project(small, 2.0), small)
    assert torch.equal(project(big, None), big)


def test_frozen_embeddings_are_perturbed_and_stay_frozen():
    model, inputs = tiny_model(), batch()
    embedding = model.get_input_embeddings()
    embedding.weight.requires_grad_(False)
    clean, _ = gradients(model, plain_pass, inputs)
    adversarial, _ = gradients(model, METHODS["fgm"](embedding), inputs)
    assert embedding.weight.grad is None
    assert max((adversarial[n] - clean[n]).abs().max() for n in clean) > 1e-4


def test_under_lora_the_adapter_gradients_change():
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_model(), LoraConfig(task_type="SEQ_CLS", r=4, target_modules=["query", "value"]))
    model.train()
    inputs = batch()
    train_pass = adversarial_pass(TrainingConfig(adversarial="pgd").adversarial, model)
    clean, _ = gradients(model, plain_pass, inputs)
    adversarial, _ = gradients(model, train_pass, inputs)
    lora = [n for n in clean if "lora_" in n]
    assert lora and max((adversarial[n] - clean[n]).abs().max() for n in lora) > 0


def test_under_bf16_autocast_the_perturbation_keeps_the_embedding_dtype():
    model, inputs = tiny_model(), batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        adversarial, loss = gradients(model, METHODS["freelb"](model.get_input_embeddings()), inputs)
    assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in adversarial.values())


def test_the_embedding_is_found_by_name_and_a_wrong_name_is_a_config_error():
    model = tiny_model()
    assert input_embeddings(model, None) is model.bert.embeddings.word_embeddings
    assert input_embeddings(model, "embeddings.word_embeddings") is model.bert.embeddings.word_embeddings
    with pytest.raises(ConfigError, match=r"'embeddings.word_embedding' is not a module of the model; did you mean "
                                          r"'bert.embeddings.word_embeddings'\?"):
        input_embeddings(model, "embeddings.word_embedding")
    with pytest.raises(ConfigError, match="does not say which module embeds its input"):
        input_embeddings(torch.nn.Linear(2, 2), None)


def test_adversarial_pass_is_the_plain_pass_when_off():
    assert adversarial_pass(TrainingConfig().adversarial, tiny_model()) is plain_pass


# R-Drop

@pytest.mark.parametrize("kind", ["sequence", "token"])
def test_rdrop_divergence_is_zero_without_dropout_and_positive_with_it(kind):
    inputs = batch(kind)
    for dropout, positive in ((0.0, False), (0.2, True)):
        model = tiny_model(kind, dropout=dropout)
        first, second = model(**inputs), model(**inputs)
        kl = divergence(first, second, inputs)
        assert (kl.item() > 1e-6) is positive and kl.item() >= 0
    without = tiny_model(kind, dropout=0.0)
    assert rdrop_loss(1.0)(without, inputs).item() == pytest.approx(without(**inputs).loss.item(), abs=1e-6)


def test_rdrop_matches_the_symmetric_kl_of_two_softmaxes():
    first = type("Out", (), {"logits": torch.tensor([[2.0, 0.0, -1.0]])})()
    second = type("Out", (), {"logits": torch.tensor([[0.0, 1.0, 0.0]])})()
    p, q = first.logits.softmax(-1), second.logits.softmax(-1)
    expected = ((p * (p / q).log()).sum() + (q * (q / p).log()).sum()) / 2
    assert divergence(first, second, {"labels": torch.tensor([0])}).item() == pytest.approx(expected.item(), rel=1e-5)


def test_rdrop_compares_labelled_tokens_and_a_causal_lm_shifts_them():
    logits = torch.arange(2 * 4 * 3, dtype=torch.float).view(2, 4, 3)
    labels = torch.tensor([[-100, 1, 2, -100], [0, -100, -100, -100]])
    assert torch.equal(labelled_rows(logits, labels, False), logits[[0, 0, 1], [1, 2, 0]])
    assert torch.equal(labelled_rows(logits, labels, True), logits[[0, 0], [0, 1]])
    prompt = torch.cat([torch.zeros(2, 5, 3), logits], dim=1)  # virtual tokens before the input
    assert torch.equal(labelled_rows(prompt, labels, False), labelled_rows(logits, labels, False))


def test_rdrop_multi_label_and_question_answering():
    a, b = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, 1.0]])
    multi = divergence(type("O", (), {"logits": a})(), type("O", (), {"logits": b})(), {"labels": torch.tensor([[1.0, 0.0]])})
    pa, pb = a.sigmoid(), b.sigmoid()
    bernoulli = (pa * (pa / pb).log() + (1 - pa) * ((1 - pa) / (1 - pb)).log()
                 + pb * (pb / pa).log() + (1 - pb) * ((1 - pb) / (1 - pa)).log()).sum() / 2
    assert multi.item() == pytest.approx(bernoulli.item(), rel=1e-5)
    def spans():
        return type("O", (), {"start_logits": torch.randn(2, 6), "end_logits": torch.randn(2, 6)})()

    same = spans()
    assert divergence(same, same, {}).item() == 0.0
    assert divergence(spans(), spans(), {}).item() > 0


def other_task(kind: str) -> tuple[torch.nn.Module, dict, bool]:
    """A tiny model with dropout and a batch for multiple choice, question answering or a causal LM."""
    from transformers import BertConfig, BertForMultipleChoice, BertForQuestionAnswering, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    ids = torch.randint(5, 50, (2, 3, 6)) if kind == "multiple-choice" else torch.randint(5, 50, (2, 6))
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if kind == "causal-lm":
        model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=32))
        labels = ids.clone()
        labels[:, :2] = -100  # the prompt
        return model.train(), {**inputs, "labels": labels}, True
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    if kind == "multiple-choice":
        return BertForMultipleChoice(config).train(), {**inputs, "labels": torch.tensor([0, 2])}, False
    spans = {"start_positions": torch.tensor([1, 2]), "end_positions": torch.tensor([3, 4])}
    return BertForQuestionAnswering(config).train(), {**inputs, **spans}, False


@pytest.mark.parametrize("kind", ["multiple-choice", "question-answering", "causal-lm"])
def test_the_other_tasks_train_adversarially_and_with_rdrop(kind):
    model, inputs, next_tokens = other_task(kind)
    torch.manual_seed(1)
    clean, _ = gradients(model, plain_pass, inputs)
    torch.manual_seed(1)  # the same dropout masks for the clean pass
    adversarial, _ = gradients(model, METHODS["fgm"](model.get_input_embeddings()), inputs)
    assert max((adversarial[n] - clean[n]).abs().max() for n in clean) > 1e-4
    first, second = model(**inputs), model(**inputs)
    assert divergence(first, second, inputs, next_token_labels=next_tokens).item() > 1e-6
    assert torch.isfinite(rdrop_loss(1.0, next_token_labels=next_tokens)(model, inputs))
