"""SetFit (the ``fewshot`` method): contrastive fine-tuning of a sentence encoder
(``encoder_training``), the pairs it learns from (``pairs``), and drawing k examples per class (``shots``)."""
