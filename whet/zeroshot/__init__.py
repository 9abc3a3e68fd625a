"""Classification without training: prompts, label descriptions and examples in place of fine-tuning.

Each module is one mode and exposes ``build(model, labels, *, device, ...) -> Scorer``
(see ``whet.zeroshot.scores``): ``embedding`` (sentence-embedding similarity), ``causal``
(verbalizer likelihood under a causal LM, optionally with in-context demonstrations),
``nli`` (entailment) and ``mlm`` (PET-style pattern and verbalizers). ``run`` ties a mode
to the labels file, the threshold and the evaluation report behind ``whet zeroshot``.
"""

from whet.registry import Registry

MODES = Registry("zero-shot mode")
MODES.register("embedding", "whet.zeroshot.embedding:build")
MODES.register("causal", "whet.zeroshot.causal:build")
MODES.register("nli", "whet.zeroshot.nli:build")
MODES.register("mlm", "whet.zeroshot.masked:build")
