"""The ``data`` section of a run config: which files, how to read them, and how inputs are cut
into windows.

The readers, the tasks and a saved model's ``whet.json`` all read these settings, so they live
here, below them; ``whet.config`` puts them into the run config as ``data``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


# What ``data.augment.method: auto`` means for each task, and the methods each task can use.
AUTO_AUGMENTATION = {"sequence-classification": "eda", "token-classification": "entities"}
AUGMENTATIONS = {"sequence-classification": ("eda", "back-translation", "paraphrase"),
                 "token-classification": ("entities",)}


class AugmentConfig(BaseModel):
    """``data.augment``: new training examples made from the training file (never from dev or test)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    method: Literal["auto", "eda", "entities", "back-translation", "paraphrase"] = Field(
        "auto", description="eda (classification: word operations), entities (NER: mention replacement and "
                            "label-preserving word operations), back-translation or paraphrase (classification, "
                            "through the models named below); auto: eda for classification, entities for NER."
    )
    copies: int = Field(1, ge=1, le=64, description="Augmented copies made of each training example; the originals are kept.")
    seed: int | None = Field(None, description="Seed of the augmentation; default: training.seed.")
    synonym_replacement: float = Field(
        0.1, ge=0, le=1, description="eda: share of a text's words replaced by an embedding neighbour; entities: "
                                     "chance of each word outside the entities (O) to be replaced so."
    )
    random_insertion: float = Field(0.1, ge=0, le=1, description="eda: neighbours of random words inserted, as a share of the words.")
    random_swap: float = Field(0.1, ge=0, le=1, description="eda: pairs of words swapped, as a share of the words.")
    random_deletion: float = Field(0.1, ge=0, le=1, description="eda: chance of each word to be deleted.")
    mention_replacement: float = Field(
        0.3, ge=0, le=1, description="entities: chance of each mention to be replaced by a training mention of its type."
    )
    segment_shuffle: float = Field(
        0.3, ge=0, le=1, description="entities: chance of each segment (a mention, or a run of O words) to have its words shuffled."
    )
    neighbours: int = Field(10, ge=1, le=100, description="Synonyms of a word: its nearest whole words in the model's input embeddings.")
    translate_to: str | None = Field(None, description="back-translation: seq2seq model (path or hub id) into the pivot language.")
    translate_back: str | None = Field(None, description="back-translation: seq2seq model from the pivot language back.")
    paraphrase_model: str | None = Field(None, description="paraphrase: causal language model (path or hub id).")
    paraphrase_prompt: str = Field(
        "Paraphrase: {text}\nParaphrase:", description="paraphrase: prompt around each text ({text}); the reply's first line is kept."
    )
    max_new_tokens: int = Field(64, ge=1, le=1024, description="back-translation and paraphrase: most tokens generated per text.")
    batch_size: int = Field(16, ge=1, description="back-translation and paraphrase: texts generated in one batch.")

    def method_for(self, task: str) -> str:
        """The method this config means for ``task`` (``auto`` resolved)."""
        return AUTO_AUGMENTATION.get(task, self.method) if self.method == "auto" else self.method

    @model_validator(mode="after")
    def _models_of_the_method(self) -> AugmentConfig:
        if self.method == "back-translation" and not (self.translate_to and self.translate_back):
            raise ValueError("method back-translation needs translate_to and translate_back, the two seq2seq "
                             "models (e.g. Helsinki-NLP/opus-mt-en-de and Helsinki-NLP/opus-mt-de-en)")
        if self.method == "paraphrase" and not self.paraphrase_model:
            raise ValueError("method paraphrase needs paraphrase_model, a causal language model")
        if self.method == "paraphrase" and "{text}" not in self.paraphrase_prompt:
            raise ValueError("paraphrase_prompt has no {text}; put {text} where the text goes")
        return self


class DataConfig(BaseModel):
    # As every config section: unknown keys are errors and assignments are validated.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    train: str | None = Field(None, description="Training file (CoNLL, JSONL, CSV, TSV, SQuAD JSON, or plain text for causal-lm and masked-lm).")
    dev: str | None = Field(None, description="Dev file for evaluation during training; split from train when absent.")
    test: str | None = Field(None, description="Test file evaluated once with the best model at the end.")
    format: Literal["auto", "conll", "jsonl", "csv", "tsv", "text", "squad"] = Field(
        "auto", description="File format; 'auto' decides from the file extension (and, for .json, the content)."
    )
    encoding: str = Field("utf-8", description="Text encoding of the data files (e.g. latin-1).")
    scheme: Literal["auto", "iob1", "iob2", "bioes"] = Field(
        "auto", description="NER tag scheme of the files; 'auto' detects it from the training data."
    )
    label_scheme: Literal["iob2", "bioes"] = Field(
        "iob2", description="NER tag scheme the model is trained with; files are converted to it."
    )
    text_column: str = Field("text", description="Classification and masked-lm: column or key holding the text (causal-lm: key of a JSONL document).")
    text_pair_column: str | None = Field(None, description="Classification: second text of a pair (e.g. NLI).")
    label_column: str = Field("label", description="Classification: column or key holding the label(s).")
    multi_label: bool = Field(False, description="Classification: each example may have several labels.")
    label_separator: str = Field("|", description="Multi-label: separator between labels in one CSV/TSV cell.")
    dev_split: float = Field(0.1, gt=0, lt=0.5, description="Share of train held out as dev when no dev file is given.")
    max_length: int | None = Field(
        None, ge=16, description="Tokens per window; longer inputs are split into overlapping windows. Default: the model's limit."
    )
    stride: int = Field(32, ge=0, description="Tokens shared by consecutive windows of a long input.")
    context: Literal["sentence", "document"] = Field(
        "sentence", description="NER: 'document' encodes each sentence with the words of its neighbours in the same document "
                                "(CoNLL -DOCSTART- sections, JSONL 'document' values) as context, in training, evaluation "
                                "and prediction; loss and predictions stay on the sentence."
    )
    context_tokens: int = Field(
        64, ge=1, description="NER with context: document: most subword tokens of context on each side of a sentence. "
                              "Training joins consecutive sentences into passages of up to twice this many words; "
                              "evaluation and prediction, into runs of up to twice this many subwords sharing one window."
    )
    packing: bool = Field(
        False, description="Causal LM: pack several examples into each row of max_length tokens; attention stays within each example."
    )
    chat_template: str | None = Field(
        None, description="Causal LM: Jinja chat template for 'messages' data, when the tokenizer has none (or to replace it)."
    )
    mlm_probability: float = Field(
        0.15, gt=0, lt=1, description="Masked LM: share of the words (or tokens, without whole_word_mask) masked in each text."
    )
    whole_word_mask: bool = Field(
        True, description="Masked LM: mask every token of a chosen word together; false masks tokens independently "
                          "(80% [MASK], 10% random, 10% kept)."
    )
    max_answer_length: int = Field(30, ge=1, description="Question answering: longest answer span, in tokens.")
    n_best: int = Field(20, ge=1, description="Question answering: best start and end tokens per window paired into candidate spans.")
    null_score_threshold: float = Field(
        0.0, description="Question answering: answer empty when the null score beats the best span's by more than this "
                         "(only if training had unanswerable questions)."
    )
    augment: AugmentConfig | None = Field(
        None, description="Augment the training data (sequence and token classification); see docs/augmentation.md."
    )
