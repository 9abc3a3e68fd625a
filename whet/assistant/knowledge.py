"""The knowledge base: passages from JSON Lines and Markdown files, found by embedding search.

A JSON Lines file holds passages (``text``, optional ``title``, ``source``, ``id``) or FAQ pairs
(``question``, ``answer``): a pair is found by its question and replies with its answer. A
Markdown file gives one passage per section, titled by its heading; a section longer than
``max_passage_words`` is cut into passages at paragraph ends. Every passage keeps its source
(``file:line`` or ``file#heading``, by the file's name) so a reply can cite it.

Search embeds the message with the sentence encoder the passages were embedded with (cosine
similarity over unit vectors: an exact search, quick for the thousands of passages a support
knowledge base holds); an optional cross-encoder re-ranks the best ``candidates``.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from whet.data.text_files import json_records, read_text_file
from whet.errors import DataError


@dataclass(frozen=True)
class Passage:
    text: str  # what the reply shows
    source: str
    title: str | None = None
    indexed: str = ""  # what is embedded: the question of an FAQ pair, else title and text


@dataclass
class Hit:
    passage: Passage
    score: float  # cosine similarity, or the re-ranker's score


def knowledge_files(patterns: list[str]) -> list[Path]:
    """The files named by paths or globs, in order, each once."""
    files: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise DataError(f"knowledge.files: {pattern} matches no file; check the path (relative to the config)")
        for match in matches:
            path = Path(match)
            if not path.is_file():
                raise DataError(f"knowledge.files: {path} not found; check the path (relative to the config)")
            if path not in files:
                files.append(path)
    return files


def read_passages(patterns: list[str], max_words: int = 200) -> list[Passage]:
    passages: list[Passage] = []
    for path in knowledge_files(patterns):
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".json"):
            passages += _jsonl_passages(path)
        elif suffix in (".md", ".markdown"):
            passages += _markdown_passages(path, max_words)
        else:
            raise DataError(f"knowledge.files: {path} is neither JSON Lines (.jsonl) nor Markdown (.md)")
    if not passages:
        raise DataError(f"knowledge.files: {', '.join(patterns)} hold no passages")
    return passages


def _jsonl_passages(path: Path) -> list[Passage]:
    passages = []
    for where, record in json_records(read_text_file(path), path):
        # Cited to customers: the file's name and line, not where it lies on the server.
        source = str(record.get("source") or record.get("id") or f"{path.name}:{where.rsplit(':', 1)[1]}")
        if "question" in record or "answer" in record:
            question, answer = record.get("question"), record.get("answer")
            if not (isinstance(question, str) and question.strip() and isinstance(answer, str) and answer.strip()):
                raise DataError(f"{where}: an FAQ pair needs a non-empty \"question\" and \"answer\"")
            passages.append(Passage(answer.strip(), source, question.strip(), question.strip()))
        else:
            text, title = record.get("text"), record.get("title")
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{where}: a passage needs a non-empty \"text\" (or an FAQ pair: question, answer)")
            title = title.strip() if isinstance(title, str) and title.strip() else None
            passages.append(Passage(text.strip(), source, title, f"{title}. {text.strip()}" if title else text.strip()))
    return passages


HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def _markdown_passages(path: Path, max_words: int) -> list[Passage]:
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    in_code = False
    for line in read_text_file(path).splitlines():
        in_code ^= line.lstrip().startswith("```")
        heading = None if in_code else HEADING.match(line)
        if heading:
            sections.append((heading.group(2), []))
        else:
            sections[-1][1].append(line)
    passages = []
    for title, lines in sections:
        paragraphs = [p.strip() for p in "\n".join(lines).split("\n\n") if p.strip()]
        anchor = f"{path.name}#{_slug(title)}" if title else path.name
        for chunk in _chunks(paragraphs, max_words):
            passages.append(Passage(chunk, anchor, title, f"{title}. {chunk}" if title else chunk))
    return passages


def _slug(title: str) -> str:
    return re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")


def _chunks(paragraphs: list[str], max_words: int) -> list[str]:
    """Paragraphs joined into chunks of at most ``max_words`` words (a longer paragraph is cut by words)."""
    chunks, current, words = [], [], 0
    for paragraph in paragraphs:
        count = len(paragraph.split())
        if current and words + count > max_words:
            chunks.append("\n\n".join(current))
            current, words = [], 0
        if count > max_words:
            tokens = paragraph.split()
            chunks += [" ".join(tokens[i:i + max_words]) for i in range(0, len(tokens), max_words)]
            continue
        current.append(paragraph)
        words += count
    if current:
        chunks.append("\n\n".join(current))
    return chunks


class KnowledgeBase:
    """Passages and their unit embeddings; ``search`` ranks them for a message."""

    def __init__(self, passages: list[Passage], encoder: Any, reranker: Any = None, candidates: int = 10) -> None:
        from whet.models.sentence_model import embed, unit_rows

        self.passages = passages
        self.encoder = encoder
        self.reranker = reranker
        self.candidates = candidates
        self.vectors = unit_rows(embed(encoder, [p.indexed for p in passages]))  # (passages, dim)

    def search(self, query: str, k: int = 1) -> list[Hit]:
        from whet.models.sentence_model import embed, unit_rows

        similarity = self.vectors @ unit_rows(embed(self.encoder, [query]))[0]  # (passages,)
        ranked = np.argsort(-similarity)[: max(k, self.candidates if self.reranker is not None else k)]
        hits = [Hit(self.passages[i], float(similarity[i])) for i in ranked]
        if self.reranker is not None:
            scores = self.reranker.predict([(query, hit.passage.indexed) for hit in hits], show_progress_bar=False)
            hits = sorted((Hit(hit.passage, float(s)) for hit, s in zip(hits, np.ravel(scores))),
                          key=lambda hit: hit.score, reverse=True)
        return hits[:k]


def load_knowledge_base(files: list[str], *, embedding_model: str, reranker: str | None = None,
                        candidates: int = 10, max_passage_words: int = 200) -> KnowledgeBase:
    """Read the passages (every file checked first), then load the models and embed them."""
    from whet.models.sentence_model import load_sentence_encoder

    passages = read_passages(files, max_passage_words)
    cross_encoder = _load_cross_encoder(reranker) if reranker is not None else None
    return KnowledgeBase(passages, load_sentence_encoder(embedding_model), cross_encoder, candidates)


def _load_cross_encoder(name: str) -> Any:
    from sentence_transformers import CrossEncoder

    from whet.errors import ModelError
    from whet.models.pretrained import quiet_transformers, resolve_model

    location = resolve_model(name)
    try:
        with quiet_transformers():
            return CrossEncoder(location, device="cpu", model_kwargs={"use_safetensors": True})
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot load the re-ranker {name}: {str(err).strip().splitlines()[0]}; give a cross-encoder "
                         f"directory (a sequence classifier with one output) or hub id") from None
