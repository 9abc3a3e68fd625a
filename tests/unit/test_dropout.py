"""whet's CPU dropout masks (whet.training.dropout): the drop rate, the scaling, gradients through
the kept elements only, the same masks from the same seed, and a model's dropout layers patched
only while training on a CPU and put back afterwards."""

from __future__ import annotations

import pytest
import torch

from whet.training.dropout import cheap_dropout, dropout, keep_mask

CPU = torch.device("cpu")


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_the_share_of_dropped_elements_is_p(p: float) -> None:
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([500, 400]), p, CPU)
    assert mask.dtype == torch.bool and mask.shape == (500, 400)
    assert abs((1 - mask.float().mean().item()) - p) < 0.005  # 200,000 draws: a few standard errors


def test_every_lane_of_a_random_word_is_uniform() -> None:
    # Four elements share each 64-bit draw; each of the four must drop at the same rate (a draw
    # whose top bit were always 0 would never drop the fourth).
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([400_000]), 0.5, CPU).view(-1, 4)
    dropped = 1 - mask.float().mean(dim=0)
    assert torch.all((dropped - 0.5).abs() < 0.01), dropped


def test_kept_elements_are_scaled_and_gradients_flow_through_them_only() -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 30, 16, requires_grad=True)
    y = dropout(x, 0.25)
    kept = y != 0
    assert torch.allclose(y[kept], x.detach()[kept] / 0.75)
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept)
    assert torch.allclose(x.grad[kept], torch.full_like(x.grad[kept], 1 / 0.75))


def test_bf16_input_keeps_its_dtype() -> None:
    x = torch.randn(4, 16, dtype=torch.bfloat16, requires_grad=True)
    y = dropout(x, 0.1)
    y.float().sum().backward()
    assert y.dtype == torch.bfloat16 and x.grad.dtype == torch.bfloat16


def test_the_same_seed_draws_the_same_masks() -> None:
    x = torch.ones(64, 64)
    torch.manual_seed(3)
    first = dropout(x, 0.3)
    torch.manual_seed(3)
    assert torch.equal(dropout(x, 0.3), first)
    assert not torch.equal(dropout(x, 0.3), first)  # the generator moved on


def test_no_dropout_in_eval_or_at_zero_and_all_dropped_at_one() -> None:
    x = torch.randn(5, 5)
    assert dropout(x, 0.3, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.count_nonzero(dropout(x, 1.0)) == 0


def tiny_bert(dropout_p: float = 0.1) -> torch.nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, num_labels=3,
                        hidden_dropout_prob=dropout_p, attention_probs_dropout_prob=0.0)
    torch.manual_seed(0)
    return BertForSequenceClassification(config)


def test_a_models_dropout_layers_use_the_masks_while_training_on_a_cpu_and_are_put_back() -> None:
    model = tiny_bert().train()
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Dropout) and m.p > 0]
    ids = torch.randint(5, 50, (4, 9))
    with cheap_dropout(model, CPU) as patched:
        assert patched == len(layers) > 0
        torch.manual_seed(1)
        inside = model(input_ids=ids).logits
        torch.manual_seed(1)
        assert torch.equal(model(input_ids=ids).logits, inside)
        model.eval()
        evaluated = model(input_ids=ids).logits
        model.train()
    assert all("forward" not in vars(layer) for layer in layers)
    torch.manual_seed(1)
    assert not torch.equal(model(input_ids=ids).logits, inside)  # torch's own masks again
    model.eval()
    assert torch.equal(model(input_ids=ids).logits, evaluated)  # eval mode was never affected


def test_nothing_is_patched_on_another_device_or_without_dropout() -> None:
    with cheap_dropout(tiny_bert(), torch.device("meta")) as patched:
        assert patched == 0
    with cheap_dropout(tiny_bert(dropout_p=0.0), CPU) as patched:
        assert patched == 0


def test_layers_are_put_back_when_training_fails() -> None:
    model = tiny_bert()
    with pytest.raises(RuntimeError, match="stopped"):
        with cheap_dropout(model, CPU):
            raise RuntimeError("stopped")
    assert all("forward" not in vars(m) for m in model.modules())
