"""Augmenting training examples as ``data.augment`` says: at training time (``whet.train``, on the
training split only, after dev is split off) and into a file (``whet augment``)."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

from whet.config import RunConfig
from whet.data.augment.eda import eda, word_core
from whet.data.augment.entities import augment_sentence, mention_pool
from whet.data.augment.output import write_tagged, write_texts
from whet.data.examples import TaggedSentence, TextExample
from whet.data.schemes import convert_tags
from whet.data.settings import AugmentConfig

log = logging.getLogger("whet")


def _text_copies(examples: list[TextExample], settings: AugmentConfig, method: str, model: str,
                 seed: int) -> list[list[TextExample]]:
    """Augmented copies of each example (texts and pairs changed alike; labels kept)."""
    texts = [ex.text for ex in examples]
    pairs = [ex.text_pair for ex in examples]
    has_pairs = any(pair is not None for pair in pairs)
    if method == "eda":
        from whet.augment.neighbours import embedding_neighbours

        rates = {name: getattr(settings, name) for name in
                 ("synonym_replacement", "random_insertion", "random_swap", "random_deletion")}
        needed = rates["synonym_replacement"] > 0 or rates["random_insertion"] > 0
        words = {word_core(word)[1] for text in texts + [p for p in pairs if p] for word in text.split()} if needed else set()
        synonyms = embedding_neighbours(model, words, settings.neighbours) if words else {}
        rng = random.Random(seed)
        new_texts = [[eda(text, rates, synonyms, rng) for _ in range(settings.copies)] for text in texts]
        new_pairs = [[eda(pair, rates, synonyms, rng) if pair else pair for _ in range(settings.copies)]
                     for pair in pairs]
    else:
        from whet.augment.generation import back_translate, paraphrase

        def generated(batch: list[str]) -> list[list[str]]:
            options = {"copies": settings.copies, "batch_size": settings.batch_size,
                       "max_new_tokens": settings.max_new_tokens, "seed": seed}
            if method == "back-translation":
                return back_translate(batch, settings.translate_to, settings.translate_back, **options)
            return paraphrase(batch, settings.paraphrase_model, settings.paraphrase_prompt, **options)

        new_texts = generated(texts)
        new_pairs = generated([p or "" for p in pairs]) if has_pairs else [[None] * settings.copies for _ in pairs]
    return [[TextExample(text, list(ex.labels), text_pair=pair, source=f"{ex.source}+aug{k}")
             for k, (text, pair) in enumerate(zip(copies, pair_copies), start=1)
             if text.strip() and (pair is None or pair.strip())]  # a generated text may come back empty
            for ex, copies, pair_copies in zip(examples, new_texts, new_pairs)]


def _sentence_copies(sentences: list[TaggedSentence], settings: AugmentConfig, model: str, scheme: str,
                     seed: int) -> list[list[TaggedSentence]]:
    rates = {name: getattr(settings, name) for name in ("mention_replacement", "synonym_replacement", "segment_shuffle")}
    synonyms: dict[str, list[str]] = {}
    if rates["synonym_replacement"] > 0:  # only words outside entities are replaced
        from whet.augment.neighbours import embedding_neighbours

        words = {word_core(token)[1] for s in sentences for token, tag in zip(s.tokens, s.tags) if tag == "O"}
        synonyms = embedding_neighbours(model, words, settings.neighbours)
    mentions = mention_pool(sentences)
    rng = random.Random(seed)
    return [[augment_sentence(sentence, rates, mentions, synonyms, scheme, rng, f"{sentence.source}+aug{k}")
             for k in range(1, settings.copies + 1)] for sentence in sentences]


def augment_examples(task: str, examples: list[Any], settings: AugmentConfig, *, model: str, scheme: str,
                     seed: int) -> list[Any]:
    """The examples, each followed by its augmented copies (``source`` "...+augK").

    Copies identical to their original or to an earlier copy are dropped: they add weight, not variety.

    Args:
        task: ``sequence-classification`` (``TextExample``) or ``token-classification`` (``TaggedSentence``).
        examples: The training examples.
        settings: ``data.augment``.
        model: The model whose input embeddings give the synonyms (a config's ``model``).
        scheme: NER: the tag scheme of the sentences, in which new tags are written.
        seed: The same seed and examples give the same copies.
    """
    method = settings.method_for(task)
    if task == "token-classification":
        copies = _sentence_copies(examples, settings, model, scheme, seed)
        content = lambda ex: (tuple(ex.tokens), tuple(ex.tags))  # noqa: E731
    else:
        copies = _text_copies(examples, settings, method, model, seed)
        content = lambda ex: (ex.text, ex.text_pair)  # noqa: E731
    out: list[Any] = []
    for example, made in zip(examples, copies):
        out.append(example)
        seen = {content(example)}
        for copy in made:
            if content(copy) not in seen:
                seen.add(content(copy))
                out.append(copy)
    log.info("data.augment (%s): %d training examples and %d augmented copies", method, len(examples),
             len(out) - len(examples))
    return out


def augment_file(config: RunConfig, output: str | Path) -> tuple[int, int]:
    """Write ``config.data.train`` with augmented copies (``data.augment``, or its defaults) to ``output``
    in the same format; return (originals, copies)."""
    from whet.data.prepare import read_split
    from whet.tasks import TASKS

    task = TASKS.get(config.task)
    path = config.data.train
    settings = config.data.augment or AugmentConfig()
    examples, file_scheme = read_split(task, path, config.data, "data.train")
    seed = config.training.seed if settings.seed is None else settings.seed
    augmented = augment_examples(config.task, examples, settings, model=config.model,
                                 scheme=config.data.label_scheme, seed=seed)
    for example in augmented:  # "train.csv:12+aug1" rather than the whole path on every row
        example.source = example.source.replace(f"{path}:", f"{Path(path).name}:", 1)
    file_format = task.detect_format(path, config.data.format)
    if config.task == "token-classification":
        for sentence in augmented:  # back into the file's own scheme
            sentence.tags = convert_tags(sentence.tags, config.data.label_scheme, file_scheme)
        write_tagged(augmented, output, file_format)
    else:
        data = config.data
        write_texts(augmented, output, file_format, text_column=data.text_column, text_pair_column=data.text_pair_column,
                    label_column=data.label_column, multi_label=data.multi_label, label_separator=data.label_separator)
    return len(examples), len(augmented) - len(examples)


def load_augment_config(source: str | Path, *, task: str | None = None, model: str | None = None,
                        overrides: list[str] | None = None) -> RunConfig:
    """The run config ``whet augment`` works from: a run config (YAML), or a training data file with
    ``task`` (default: told by the extension, .csv classification, .txt/.conll NER; .tsv and .jsonl
    may be either), ``model`` (default builtin:minilm) and ``data.augment`` from ``overrides``
    (``--set data.augment.copies=4``)."""
    from whet.config import apply_overrides, check_problems, load_config, validation_problems
    from whet.data.settings import AUGMENTATIONS
    from whet.errors import ConfigError
    from whet.tasks import TASKS

    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"{path} not found; give a run config (YAML) or a training data file")
    if path.suffix.lower() in (".yaml", ".yml"):
        config = load_config(path, (overrides or []) + ([f"model={model}"] if model else []))
        if task is not None and task != config.task:
            raise ConfigError(f"--task {task}: {path} is a {config.task} config; leave --task out")
        if config.data.train is None:
            raise ConfigError(f"{path}: data.train is not set; name the training file to augment")
        return config
    if task is None:
        fitting = [name for name in AUGMENTATIONS if path.suffix.lower() in TASKS.get(name).extensions]
        if len(fitting) != 1:
            raise ConfigError(f"{path}: cannot tell the task from the extension {path.suffix or '(none)'!r}; "
                              f"pass --task {' or --task '.join(AUGMENTATIONS)}")
        task = fitting[0]
    raw = apply_overrides({"task": task, "model": model or "builtin:minilm",
                           "data": {"train": str(path), "augment": {}}}, overrides or [])
    check_problems(path, validation_problems(raw))
    return RunConfig.model_validate(raw)
