"""Head growth and label masks, and the loss terms of EWC, LwF and O-LoRA."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

from whet.methods.lora import LoraSettings
from whet.continual.heads import expand_head, masked_cross_entropy, output_layers, restricted_to
from whet.continual.strategies.per_task_adapters import add_adapter, orthogonality_loss, route
from whet.continual.strategies.ewc import EWC
from whet.continual.strategies.lwf import LwF, distillation_loss
from whet.errors import ModelError


def classifier(tiny_bert, labels: list[str], auto=AutoModelForSequenceClassification):
    torch.manual_seed(0)
    return auto.from_pretrained(tiny_bert, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                label2id={label: i for i, label in enumerate(labels)})


@pytest.mark.parametrize("auto", [AutoModelForSequenceClassification, AutoModelForTokenClassification])
def test_growing_the_head_keeps_the_old_rows_bit_for_bit(tiny_bert, auto):
    model = classifier(tiny_bert, ["O", "B-PER", "I-PER"], auto)
    [(_, layer)] = output_layers(model)
    old_weight, old_bias = layer.weight.detach().clone(), layer.bias.detach().clone()
    expand_head(model, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    [(_, grown)] = output_layers(model)
    assert grown.weight.shape == (5, 32)
    assert torch.equal(grown.weight[:3], old_weight) and torch.equal(grown.bias[:3], old_bias)
    assert grown.weight[3:].abs().sum() > 0 and torch.equal(grown.bias[3:], torch.zeros(2))
    assert model.config.id2label[4] == "I-LOC" and model.config.label2id["B-LOC"] == 3 and model.num_labels == 5
    batch = {"input_ids": torch.tensor([[101, 2000, 102]]), "attention_mask": torch.ones(1, 3, dtype=torch.long)}
    labels = torch.tensor([4]) if auto is AutoModelForSequenceClassification else torch.tensor([[-100, 4, -100]])
    outputs = model(**batch, labels=labels)  # the loss reshapes logits with the new label count
    assert outputs.logits.shape[-1] == 5 and torch.isfinite(outputs.loss)


def test_a_head_only_grows_at_the_end_of_its_label_list(tiny_bert):
    model = classifier(tiny_bert, ["a", "b"])
    with pytest.raises(ModelError, match="not the first of the new label list"):
        expand_head(model, ["b", "a", "c"])


def test_restricted_labels_are_never_predicted_and_the_mask_is_removed_after(tiny_bert):
    model = classifier(tiny_bert, ["a", "b", "c", "d"]).eval()
    batch = {"input_ids": torch.tensor([[101, 2000, 2001, 102]] * 3)}
    with torch.no_grad():
        free = model(**batch).logits
        with restricted_to(model, torch.tensor([False, True, False, True])):
            masked = model(**batch).logits
        after = model(**batch).logits
    assert set(masked.argmax(-1).tolist()) <= {1, 3}
    assert torch.equal(masked[:, [1, 3]], free[:, [1, 3]]) and torch.equal(after, free)


def test_masked_cross_entropy_is_the_cross_entropy_over_each_examples_own_labels():
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0], [0.0, 3.0, 1.0, 2.0]])
    labels = torch.tensor([1, 3])
    allowed = torch.tensor([[True, True, False, False], [False, False, True, True]])
    expected = (torch.nn.functional.cross_entropy(logits[:1, :2], labels[:1])
                + torch.nn.functional.cross_entropy(logits[1:, 2:], labels[1:] - 2)) / 2
    assert masked_cross_entropy(logits, labels, allowed).item() == pytest.approx(expected.item(), rel=1e-5)


def test_ewc_penalty_is_zero_at_the_anchor_and_grows_quadratically_away_from_it(tiny_bert):
    model = classifier(tiny_bert, ["a", "b"])
    anchor = {name: p.detach().clone() for name, p in model.named_parameters()}
    fisher = {name: torch.full_like(p, 0.5) for name, p in anchor.items()}
    ewc = EWC(weight=10.0, mode="online", decay=1.0, fisher_examples=10)
    ewc.terms = [(fisher, anchor)]
    assert ewc.penalty(model).item() == 0.0
    with torch.no_grad():
        model.classifier.weight += 0.1
    one_step = ewc.penalty(model).item()
    assert one_step == pytest.approx(10.0 / 2 * 0.5 * 0.01 * model.classifier.weight.numel(), rel=1e-4)
    with torch.no_grad():
        model.classifier.weight += 0.1
    assert ewc.penalty(model).item() == pytest.approx(4 * one_step, rel=1e-4)


def test_ewc_penalises_only_the_old_rows_of_a_grown_head(tiny_bert):
    model = classifier(tiny_bert, ["a", "b"])
    anchor = {name: p.detach().clone() for name, p in model.named_parameters()}
    ewc = EWC(weight=1.0, mode="separate", decay=1.0, fisher_examples=10)
    ewc.terms = [({name: torch.ones_like(p) for name, p in anchor.items()}, anchor)] * 2
    expand_head(model, ["a", "b", "c"])
    assert ewc.penalty(model).item() == 0.0  # the new row is free to move
    with torch.no_grad():
        model.classifier.weight[2] += 1.0
    assert ewc.penalty(model).item() == 0.0
    with torch.no_grad():
        model.classifier.bias[0] += 1.0
    assert ewc.penalty(model).item() == pytest.approx(2 * 0.5)  # two separate terms, 1/2 * 1 * 1^2 each


def test_lwf_loss_is_zero_when_the_new_model_equals_the_old_one(tiny_bert):
    model = classifier(tiny_bert, ["a", "b", "c"]).eval()
    lwf = LwF(weight=1.0, temperature=2.0)
    lwf.teacher, lwf.groups = copy.deepcopy(model), [torch.arange(3)]
    batch = {"input_ids": torch.tensor([[101, 2000, 2001, 102], [101, 2005, 102, 0]]),
             "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]), "labels": torch.tensor([0, 2])}
    assert lwf.extra_loss(model, batch, model(**batch)).item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        model.classifier.weight[0] += 1.0
    assert lwf.extra_loss(model, batch, model(**batch)).item() > 1e-4


def test_distillation_covers_only_the_old_labels_and_each_task_separately():
    old = torch.tensor([[1.0, 2.0, 0.5, 0.0]])
    new = torch.tensor([[1.0, 2.0, 0.5, 0.0, 9.0]])  # a grown head: the last label has no teacher
    groups = [torch.arange(4)]
    assert distillation_loss(new[:, :4], old, groups, 2.0).item() == pytest.approx(0.0, abs=1e-7)
    # Shifting one task's logits together changes nothing within that task's softmax.
    shifted = old + torch.tensor([[0.0, 0.0, 3.0, 3.0]])
    per_task = [torch.tensor([0, 1]), torch.tensor([2, 3])]
    assert distillation_loss(shifted, old, per_task, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    assert distillation_loss(shifted, old, groups, 2.0).item() > 0.01
    multi = torch.tensor([[0.3, -1.0]])
    assert distillation_loss(multi, multi, [torch.arange(2)], 1.0, multi_label=True).item() == pytest.approx(0, abs=1e-6)


def test_orthogonality_loss_is_zero_for_orthogonal_adapters_and_positive_for_overlapping_ones(tiny_bert):
    model = classifier(tiny_bert, ["a", "b"])
    lora = LoraSettings(r=2, alpha=4, dropout=0.0)
    add_adapter(model, "first", lora)
    add_adapter(model, "second", lora)
    layers = [m for m in model.modules() if hasattr(m, "lora_A")]
    assert layers
    eye = torch.eye(32)
    with torch.no_grad():
        for layer in layers:
            layer.lora_A["first"].weight.copy_(eye[:2])  # rows span inputs 0-1
            layer.lora_A["second"].weight.copy_(eye[2:4])  # rows span inputs 2-3
    assert orthogonality_loss(model, "second", ["first"]).item() == 0.0
    with torch.no_grad():
        for layer in layers:
            layer.lora_A["second"].weight.copy_(eye[1:3])  # shares input 1 with the first adapter
    assert orthogonality_loss(model, "second", ["first"]).item() == pytest.approx(len(layers) * 1.0)


def test_routing_chooses_the_adapter_of_the_task(tiny_bert):
    model = classifier(tiny_bert, ["a", "b"]).eval()
    batch = {"input_ids": torch.tensor([[101, 2000, 2001, 102]])}
    with torch.no_grad():
        bare = model(**batch).logits
    lora = LoraSettings(r=2, alpha=4, dropout=0.0)
    for name in ("first", "second"):
        add_adapter(model, name, lora)
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "lora_B"):
                module.lora_B["first"].weight.fill_(0.5)  # the second adapter keeps lora_B = 0: no change
        route(model, "first")
        first = model(**batch).logits
        route(model, "second")
        second = model(**batch).logits
        route(model, None)
        none = model(**batch).logits
    assert not torch.allclose(first, bare)
    assert torch.allclose(second, bare) and torch.allclose(none, bare)
