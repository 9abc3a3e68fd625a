"""Few-shot classification: SetFit-style contrastive fine-tuning of a sentence encoder
(``train``), the pairs it learns from (``pairs``), and drawing k examples per class (``shots``)."""
