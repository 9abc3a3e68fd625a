"""Fine-tuning methods: each module configures which parameters train (through peft where
peft has the method) and exposes ``apply(model, settings, head_names) -> model``."""

from whet.registry import Registry

METHODS = Registry("method")
METHODS.register("full", "whet.methods.full:apply")
METHODS.register("frozen", "whet.methods.frozen:apply")
METHODS.register("bitfit", "whet.methods.bitfit:apply")
METHODS.register("lora", "whet.methods.lora:apply")
# SetFit has its own recipe (contrastive pairs, then a fitted head) instead of the shared loop:
# its entry is ``train(config) -> results``, which ``whet.train.train`` hands the run to.
METHODS.register("fewshot", "whet.fewshot.train:train")
# PET trains every parameter of a masked LM whose mask predictions are the class scores;
# whet.train builds that model (whet.pattern_model) instead of adding a head.
METHODS.register("pet", "whet.methods.full:apply")
