from __future__ import annotations

import contextlib

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


def test_layer_decay_lowers_each_layers_rate_from_the_top_down():
    import transformers

    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                     intermediate_size=32, num_labels=3)
    model = transformers.BertForSequenceClassification(config)
    optimizer = build_optimizer(model, lr=1e-4, head_lr=1e-3, weight_decay=0.01, heads=["classifier"],
                                layer_decay=0.5)
    rate = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())
    assert rate[id(named["classifier.weight"])] == 1e-3
    assert rate[id(named["bert.pooler.dense.weight"])] == 1e-4
    for layer in range(3):  # the top layer (2) at lr / 2, the bottom one at lr / 8
        for name in (f"bert.encoder.layer.{layer}.attention.self.query.weight",
                     f"bert.encoder.layer.{layer}.output.LayerNorm.bias"):
            assert rate[id(named[name])] == 1e-4 * 0.5 ** (3 - layer), name
    assert rate[id(named["bert.embeddings.word_embeddings.weight"])] == 1e-4 * 0.5 ** 4
    assert len(rate) == len(named)  # every parameter in exactly one group
    # weight decay still spares biases and norms within each layer
    decay = {id(p): group["weight_decay"] for group in optimizer.param_groups for p in group["params"]}
    assert decay[id(named["bert.encoder.layer.1.output.LayerNorm.bias"])] == 0.0
    assert decay[id(named["bert.encoder.layer.1.output.dense.weight"])] == 0.01
    # off (1.0): one rate for the body, and as few groups as without the option
    plain = build_optimizer(model, lr=1e-4, head_lr=1e-3, weight_decay=0.01, heads=["classifier"])
    assert len(plain.param_groups) == 4 and {g["lr"] for g in plain.param_groups} == {1e-4, 1e-3}


def test_layer_decay_finds_the_layers_of_a_decoder_and_of_lora():
    import transformers
    from peft import LoraConfig, get_peft_model

    from whet.training.optimizer import layer_depths

    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2))
    depths, top = layer_depths([name for name, _ in gpt2.named_parameters()])
    assert top == 3 and depths["transformer.wte.weight"] == depths["transformer.wpe.weight"] == 0
    assert depths["transformer.h.0.attn.c_attn.weight"] == 1 and depths["transformer.h.1.mlp.c_fc.weight"] == 2
    assert depths["transformer.ln_f.weight"] == 3
    bert = transformers.BertForSequenceClassification(transformers.BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32))
    lora = get_peft_model(bert, LoraConfig(target_modules=["query", "value"], r=2))
    trainable = [name for name, p in lora.named_parameters() if p.requires_grad]
    depths, top = layer_depths(trainable)
    assert {depths[name] for name in trainable if "lora_" in name} == {1, 2} and top == 3


def test_training_on_a_cpu_takes_the_unfused_attention_and_evaluation_the_fused_one():
    import torch
    import transformers
    from torch.profiler import ProfilerActivity, profile

    from whet.training.loop import training_attention

    config = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, num_labels=3, attention_probs_dropout_prob=0.0,
                                     attn_implementation="sdpa")
    model = transformers.BertForSequenceClassification(config).train()
    ids = torch.randint(0, 50, (2, 9))

    def operators(attention) -> set[str]:
        with profile(activities=[ProfilerActivity.CPU]) as profiler, attention:
            model(input_ids=ids, labels=torch.tensor([0, 2])).loss.backward()
        return {event.key for event in profiler.key_averages()}

    fused = "aten::_scaled_dot_product_flash_attention_for_cpu"
    assert fused in operators(contextlib.nullcontext())  # what torch chooses by itself without dropout
    trained = operators(training_attention(torch.device("cpu")))
    assert fused not in trained and "aten::bmm" in trained
    assert torch.backends.cuda.flash_sdp_enabled()  # the choice ends with the context
