"""Data augmentation with models: synonyms from a model's embeddings, back-translation and
paraphrase; applied to a run's training data (``data.augment``) or to a file (``whet augment``).
The operations themselves, on examples in memory, are in ``whet.data.augment``."""
