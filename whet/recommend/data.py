"""Reading an item catalog and users' interactions, checked against each other.

The catalog is JSON lines, CSV, or a RecBole/UniSRec atomic ``.text`` file (tab-separated, a
header of ``name:type`` columns): one item a row, its id and the text fields the config names.
Interactions are CSV or JSON lines of events (user, item, optional rating and timestamp; the
positives are the events rated at least ``min_rating``, or all of them), or UniSRec ``.inter``
sequences (``user<TAB>history item numbers<TAB>next item``, with ``<name>.item2index`` beside
them mapping item ids to those numbers).

Every problem of one kind is counted and reported once, at its first file:line, with the fix:
interactions on items the catalog lacks, items with empty text, duplicate items or events.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whet.errors import DataError

log = logging.getLogger("whet")


@dataclass
class Catalog:
    """The items: ``texts`` is what the item side reads, ``query_texts`` what a history item
    contributes to the user side (often shorter: the title and genres, not the plot)."""

    ids: list[str]
    texts: list[str]
    query_texts: list[str]
    categories: list[tuple[str, ...]] | None = None  # with data.category_field: each item's categories
    position: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.position = {item: i for i, item in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids)

    def truncate(self, size: int) -> None:
        """Drop the items past the first ``size`` (undoes an addition)."""
        for item in self.ids[size:]:
            del self.position[item]
        for column in (self.ids, self.texts, self.query_texts, self.categories if self.categories is not None else []):
            del column[size:]


@dataclass
class Case:
    """One user to recommend for: the liked items in time order, everything they interacted with
    (never recommended again) and, in evaluation, the item that came next."""

    user: str
    history: list[int]
    seen: set[int]
    target: int | None = None


@dataclass
class Interactions:
    """Each user's positives in time order, and every item each user interacted with."""

    sequences: dict[str, list[int]]
    seen: dict[str, set[int]]


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value if v not in (None, ""))
    return str(value).strip()


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for each row of a JSON lines, CSV or tab-separated atomic file."""
    from whet.data.text_files import json_records, read_text_file

    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv", ".text", ".inter", ".tsv"):
        raise DataError(f"{path}: unknown file type '{suffix}'; use .jsonl, .csv, or a UniSRec .text/.inter file")
    text = read_text_file(path)  # names a missing file, or an undecodable byte with its line
    if suffix == ".jsonl":
        for where, record in json_records(text, path):
            yield int(where.rsplit(":", 1)[1]), record
        return
    # Tab-separated atomic files quote nothing: a title may begin with '"'.
    reader = (csv.reader(io.StringIO(text, newline="")) if suffix == ".csv"
              else csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE))
    header = next(reader, None)
    if header is None:
        raise DataError(f"{path} is empty; it needs a header row and one row per record")
    # A RecBole atomic header names each column ``name:type``; the name is what configs use.
    names = [column.split(":")[0].strip() for column in header]
    for values in reader:
        if values:
            yield reader.line_num, dict(zip(names, values))


def _problem(problems: dict[str, list[str]], kind: str, where: str) -> None:
    problems[kind].append(where)


def _raise_problems(path: Path, problems: dict[str, list[str]], fixes: dict[str, str]) -> None:
    if not problems:
        return
    kind, places = next(iter(problems.items()))
    others = "; ".join(f"{len(p)} {k}" for k, p in list(problems.items())[1:])
    also = f" (also {others})" if others else ""
    raise DataError(f"{len(places)} {kind} (first at {places[0]}){also}; {fixes[kind]}")


def read_catalog(path: str | Path, *, id_field: str, text_fields: list[str],
                 query_fields: list[str] | None = None, category_field: str | None = None) -> Catalog:
    """The items of ``path``; the text joins the non-empty ``text_fields`` with '. '; with
    ``category_field``, each item's categories (a list, or text split at '|' or ',')."""
    path = Path(path)
    query_fields = query_fields or text_fields
    ids, texts, query_texts, categories = [], [], [], []
    first_line: dict[str, int] = {}
    problems: dict[str, list[str]] = defaultdict(list)
    for number, record in _rows(path):
        where = f"{path}:{number}"
        missing = [name for name in (id_field, *text_fields, *query_fields, *([category_field] if category_field else []))
                   if name not in record]
        if missing:
            raise DataError(f"{where}: no field '{missing[0]}' (fields: {', '.join(record)}); "
                            f"set data.id_field / data.text_fields to fields the file has")
        item = _field_text(record[id_field])
        if not item:
            _problem(problems, "items without an id", where)
            continue
        if item in first_line:
            _problem(problems, "duplicate item ids", f"{where}, id '{item}' first at line {first_line[item]}")
            continue
        text = ". ".join(t for t in (_field_text(record[name]) for name in text_fields) if t)
        if not text:
            _problem(problems, "items with empty text", f"{where}, id '{item}'")
            continue
        first_line[item] = number
        ids.append(item)
        texts.append(text)
        query_texts.append(". ".join(t for t in (_field_text(record[name]) for name in query_fields) if t) or text)
        if category_field:
            categories.append(parse_categories(record[category_field]))
    _raise_problems(path, problems, {
        "items without an id": f"give every item a '{id_field}'",
        "duplicate item ids": "keep one row per item",
        "items with empty text": f"fill in one of {', '.join(text_fields)} or remove those items"})
    if not ids:
        raise DataError(f"{path} holds no items; it needs one row per item")
    return Catalog(ids, texts, query_texts, categories if category_field else None)


def parse_categories(value: object) -> tuple[str, ...]:
    """An item's categories: a list's values, or text split at '|' or ','; empty ones dropped."""
    values = value if isinstance(value, list) else re.split(r"[|,]", _field_text(value))
    return tuple(dict.fromkeys(text for text in (_field_text(v) for v in values) if text))


def _item2index(path: Path, catalog: Catalog) -> dict[str, int]:
    """UniSRec item numbers -> catalog positions, from ``<name>.item2index`` beside ``path``."""
    mapping_file = path.with_name(path.name.split(".")[0] + ".item2index")
    if not mapping_file.is_file():
        raise DataError(f"{path}: UniSRec .inter files number their items; {mapping_file.name} (item id<TAB>number) "
                        f"must be beside it")
    numbers = {}
    for number, line in enumerate(mapping_file.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataError(f"{mapping_file}:{number}: expected 'item id<TAB>number'")
        item, index = parts
        if item in catalog.position:
            numbers[index.strip()] = catalog.position[item]
    return numbers


def _unknown(problems: dict[str, list[str]], where: str, item: str, unknown_items: str) -> None:
    if unknown_items == "error":
        _problem(problems, "interactions on items not in the catalog", f"{where}, item '{item}'")


def _finish_unknown(path: Path, skipped: int, unknown_items: str) -> None:
    if skipped and unknown_items == "skip":
        log.warning("%s: %d interactions on items not in the catalog skipped", path, skipped)


UNKNOWN_FIX = "add those items to the catalog, or set data.unknown_items: skip"


def read_sequences(path: str | Path, catalog: Catalog, *, unknown_items: str = "error") -> list[Case]:
    """UniSRec ``.inter`` lines as cases: each line's history and the item that followed it."""
    path = Path(path)
    numbers = _item2index(path, catalog)
    cases, skipped = [], 0
    problems: dict[str, list[str]] = defaultdict(list)
    for number, record in _rows(path):
        where = f"{path}:{number}"
        try:
            user, history, target = record["user_id"], record["item_id_list"].split(), record["item_id"]
        except (KeyError, AttributeError):
            raise DataError(f"{where}: expected 'user_id<TAB>item_id_list<TAB>item_id' (a UniSRec .inter file)") from None
        unknown = [item for item in (*history, target) if item not in numbers]
        if unknown:
            skipped += 1
            _unknown(problems, where, unknown[0], unknown_items)
            continue
        items = [numbers[item] for item in history]
        cases.append(Case(user, items, set(items), numbers[target]))
    _raise_problems(path, problems, {"interactions on items not in the catalog": UNKNOWN_FIX})
    _finish_unknown(path, skipped, unknown_items)
    return cases


def read_events(path: str | Path, catalog: Catalog, *, user_field: str, item_field: str,
                rating_field: str | None, time_field: str | None, min_rating: float | None,
                unknown_items: str = "error") -> Interactions:
    """Events (CSV or JSON lines) grouped by user: positives in time order (ties in file order)
    and every item interacted with."""
    path = Path(path)
    events: dict[str, list[tuple[float, int, int, bool]]] = defaultdict(list)
    first_line: dict[tuple, int] = {}
    problems: dict[str, list[str]] = defaultdict(list)
    skipped = 0
    for number, record in _rows(path):
        where = f"{path}:{number}"
        wanted = [name for name in (user_field, item_field, rating_field, time_field) if name]
        missing = [name for name in wanted if name not in record]
        if missing:
            raise DataError(f"{where}: no field '{missing[0]}' (fields: {', '.join(record)}); set "
                            f"data.user_field / item_field / rating_field / time_field to fields the file has")
        user, item = _field_text(record[user_field]), _field_text(record[item_field])
        if item not in catalog.position:
            skipped += 1
            _unknown(problems, where, item, unknown_items)
            continue
        try:
            rating = float(record[rating_field]) if rating_field else None
            moment = float(record[time_field]) if time_field else float(number)
        except (TypeError, ValueError):
            raise DataError(f"{where}: rating and timestamp must be numbers") from None
        key = (user, item, moment)
        if key in first_line:
            _problem(problems, "duplicate interactions", f"{where}, user '{user}' item '{item}' first at line "
                                                         f"{first_line[key]}")
            continue
        first_line[key] = number
        positive = min_rating is None or rating is None or rating >= min_rating
        events[user].append((moment, number, catalog.position[item], positive))
    _raise_problems(path, problems, {
        "interactions on items not in the catalog": UNKNOWN_FIX,
        "duplicate interactions": "keep one row per user, item and timestamp"})
    _finish_unknown(path, skipped, unknown_items)
    sequences, seen = {}, {}
    for user, rows in events.items():
        rows.sort()
        sequences[user] = [item for _, _, item, positive in rows if positive]
        seen[user] = {item for _, _, item, _ in rows}
    return Interactions(sequences, seen)


def interactions_from_cases(cases: list[Case]) -> Interactions:
    """Each user's full sequence from UniSRec prefix lines: the longest history and its next item."""
    longest: dict[str, Case] = {}
    for case in cases:
        if case.user not in longest or len(case.history) > len(longest[case.user].history):
            longest[case.user] = case
    sequences = {user: [*case.history, case.target] for user, case in longest.items()}
    return Interactions(sequences, {user: set(items) for user, items in sequences.items()})


def dev_cases(path: str | Path, catalog: Catalog, interactions: Interactions, **fields: Any) -> list[Case]:
    """Evaluation cases: UniSRec lines as they are, or each event of a user with training
    interactions against that user's history (events of users without any are an error)."""
    path = Path(path)
    if path.suffix == ".inter":
        return read_sequences(path, catalog, unknown_items=fields.get("unknown_items", "error"))
    targets = read_events(path, catalog, **fields)
    cases, strangers = [], []
    for user, items in targets.sequences.items():
        if user not in interactions.seen:
            strangers.append(user)
            continue
        cases += [Case(user, interactions.sequences[user], interactions.seen[user], item) for item in items]
    if strangers:
        raise DataError(f"{path}: {len(strangers)} users have no training interactions (first: '{strangers[0]}'); "
                        f"evaluate only users with a history")
    return cases


def training_cases(interactions: Interactions) -> list[Case]:
    """Every (history so far -> next positive) step of every user's sequence."""
    return [Case(user, items[:t], interactions.seen[user], items[t])
            for user, items in interactions.sequences.items() for t in range(1, len(items))]


def load_recommend_data(settings: Any, catalog: Catalog | None = None) -> tuple[Catalog, Interactions, list[Case]]:
    """The catalog, the training interactions and the dev cases (empty without ``settings.dev``)
    that a ``RecommendData`` section names; with ``catalog`` (a saved model's), that one is used."""
    if catalog is None:
        catalog = read_catalog(settings.items, id_field=settings.id_field, text_fields=settings.text_fields,
                               query_fields=settings.query_fields,
                               category_field=getattr(settings, "category_field", None))
    fields = {"user_field": settings.user_field, "item_field": settings.item_field,
              "rating_field": settings.rating_field, "time_field": settings.time_field,
              "min_rating": settings.min_rating, "unknown_items": settings.unknown_items}
    if Path(settings.interactions).suffix == ".inter":
        interactions = interactions_from_cases(read_sequences(settings.interactions, catalog,
                                                              unknown_items=settings.unknown_items))
    else:
        interactions = read_events(settings.interactions, catalog, **fields)
    cases = dev_cases(settings.dev, catalog, interactions, **fields) if settings.dev else []
    return catalog, interactions, cases
