"""Data augmentation operations on examples in memory: EDA for texts, mention replacement and
label-preserving word operations for tagged sentences. They take their synonyms as a mapping;
finding them in a model's embeddings, and generating with models, happens in ``whet.augment``."""
