"""The ``data`` section of a run config: which files, how to read them, and how inputs are cut
into windows.

The readers, the tasks and a saved model's ``whet.json`` all read these settings, so they live
here, below them; ``whet.config`` puts them into the run config as ``data``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DataConfig(BaseModel):
    # As every config section: unknown keys are errors and assignments are validated.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    train: str | None = Field(None, description="Training file (CoNLL, JSONL, CSV, TSV, SQuAD JSON, or plain text for causal-lm).")
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
    text_column: str = Field("text", description="Classification: column or key holding the text.")
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
        64, ge=1, description="NER with context: document: most subword tokens of context on each side of a sentence."
    )
    packing: bool = Field(
        False, description="Causal LM: pack several examples into each row of max_length tokens; attention stays within each example."
    )
    chat_template: str | None = Field(
        None, description="Causal LM: Jinja chat template for 'messages' data, when the tokenizer has none (or to replace it)."
    )
    max_answer_length: int = Field(30, ge=1, description="Question answering: longest answer span, in tokens.")
    n_best: int = Field(20, ge=1, description="Question answering: best start and end tokens per window paired into candidate spans.")
    null_score_threshold: float = Field(
        0.0, description="Question answering: answer empty when the null score beats the best span's by more than this "
                         "(only if training had unanswerable questions)."
    )
