"""NER tagging schemes: check tags, detect which scheme a data set uses, convert between them.

A tag is ``O`` or ``PREFIX-TYPE``. ``iob1`` and ``iob2`` use the prefixes B- and I-;
``bioes`` adds E- (last word of an entity) and S- (single-word entity). The BILOU letters
U- and L- are read as S- and E-.

Every function here reads tags the standard, lenient way: an entity begins at B- or S-, or
at an I-/E- that follows O or a different type; it ends before O, before a new beginning,
or right after E-/S-. So iob1 and iob2 decode identically and only differ when written.
"""

from __future__ import annotations

from collections.abc import Iterable

from whet.errors import DataError

SCHEMES = ("iob1", "iob2", "bioes")

_PREFIXES = ("B", "I", "E", "S", "U", "L")
# BILOU is BIOES with other letters; folding them in once keeps every reader below simple.
_BILOU_ALIASES = {"U": "S", "L": "E"}


def _split_tag(tag: str) -> tuple[str, str]:
    """Split a tag into (prefix, type), with BILOU letters folded into BIOES; "O" -> ("O", "")."""
    if tag == "O":
        return "O", ""
    prefix, sep, entity_type = tag.partition("-")
    if not sep or prefix not in _PREFIXES:
        raise ValueError(f"tag {tag!r} is not 'O' or PREFIX-TYPE")
    if not entity_type:
        raise ValueError(f"tag {tag!r} has no entity type")
    return _BILOU_ALIASES.get(prefix, prefix), entity_type


def check_tags(tags: Iterable[str], where: str) -> None:
    """Raise ``DataError`` for the first malformed tag.

    Args:
        tags: Tags of one sentence (or one line).
        where: "file:line" to name in the message.

    Raises:
        DataError: A tag is neither "O" nor PREFIX-TYPE with PREFIX one of B, I, E, S, U, L,
            or its type is empty.
    """
    for tag in tags:
        if not isinstance(tag, str):
            raise DataError(f"{where}: tag {tag!r} is not a string; write tags like B-PER or O")
        try:
            _split_tag(tag)
        except ValueError:
            prefix, sep, entity_type = tag.partition("-")
            if sep and prefix in _PREFIXES and not entity_type:
                raise DataError(
                    f"{where}: tag {tag!r} has no entity type after the prefix; "
                    f"write it like {prefix}-PER"
                ) from None
            raise DataError(
                f"{where}: tag {tag!r} is not 'O' or PREFIX-TYPE with PREFIX one of "
                f"{', '.join(_PREFIXES)}; write it like B-PER, I-PER or O"
            ) from None


def entity_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """Return the entities in one sentence's tags, in any scheme.

    Args:
        tags: Valid tags (see ``check_tags``) of one sentence.

    Returns:
        ``(type, start, end)`` word spans, end exclusive, in order.

    Example:
        >>> entity_spans(["B-PER", "I-PER", "O", "S-LOC"])
        [('PER', 0, 2), ('LOC', 3, 4)]
    """
    spans: list[tuple[str, int, int]] = []
    open_type: str | None = None
    open_start = 0
    for i, tag in enumerate(tags):
        prefix, entity_type = _split_tag(tag)
        continues = open_type == entity_type and prefix in ("I", "E")
        if open_type is not None and not continues:
            spans.append((open_type, open_start, i))
            open_type = None
        if prefix == "O":
            continue
        if open_type is None:
            open_type, open_start = entity_type, i
        if prefix in ("E", "S"):
            spans.append((open_type, open_start, i + 1))
            open_type = None
    if open_type is not None:
        spans.append((open_type, open_start, len(tags)))
    return spans


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tagging scheme {scheme!r}; use one of {', '.join(SCHEMES)}")


def tags_from_spans(spans: list[tuple[str, int, int]], length: int, scheme: str) -> list[str]:
    """Write entity spans as tags of one sentence.

    Args:
        spans: ``(type, start, end)`` word spans, end exclusive, sorted and not overlapping.
        length: Number of words in the sentence.
        scheme: One of ``SCHEMES``.

    Returns:
        One tag per word.
    """
    _check_scheme(scheme)
    tags = ["O"] * length
    previous: tuple[str, int, int] | None = None
    for entity_type, start, end in spans:
        if scheme == "bioes":
            if end - start == 1:
                tags[start] = f"S-{entity_type}"
            else:
                tags[start] = f"B-{entity_type}"
                tags[start + 1 : end - 1] = [f"I-{entity_type}"] * (end - start - 2)
                tags[end - 1] = f"E-{entity_type}"
        else:
            # iob1 only writes B- where an entity touches the previous one of the same type,
            # because that is the one place an I- would merge them.
            touches_same_type = (
                previous is not None and previous[0] == entity_type and previous[2] == start
            )
            first = "B" if scheme == "iob2" or touches_same_type else "I"
            tags[start] = f"{first}-{entity_type}"
            tags[start + 1 : end] = [f"I-{entity_type}"] * (end - start - 1)
        previous = (entity_type, start, end)
    return tags


def convert_tags(tags: list[str], source: str, target: str) -> list[str]:
    """Convert one sentence's tags from one scheme to another.

    Args:
        tags: Valid tags (see ``check_tags``) in the ``source`` scheme.
        source: Scheme of ``tags``, one of ``SCHEMES``.
        target: Scheme to write, one of ``SCHEMES``.

    Returns:
        The same entities written in ``target``. Converting to the same scheme normalises
        the tags (for example BILOU U-/L- become S-/E-, a stray iob2 I- becomes B-).

    Example:
        >>> convert_tags(["B-PER", "I-PER", "O", "B-LOC"], "iob2", "bioes")
        ['B-PER', 'E-PER', 'O', 'S-LOC']
    """
    _check_scheme(source)
    _check_scheme(target)
    return tags_from_spans(entity_spans(tags), len(tags), target)


def detect_scheme(tag_sequences: Iterable[list[str]]) -> str:
    """Guess the tagging scheme of a data set.

    ``bioes`` if any tag has an E-, S-, U- or L- prefix; ``iob1`` if some entity begins with
    I- and B- only ever separates two touching entities of the same type; ``iob2``
    otherwise, including data with no entities at all.

    Args:
        tag_sequences: Valid tags (see ``check_tags``) of each sentence.

    Returns:
        One of ``SCHEMES``.
    """
    entity_begins_with_i = False
    b_outside_touching_entities = False
    for tags in tag_sequences:
        previous_prefix, previous_type = "O", ""
        for tag in tags:
            prefix, entity_type = _split_tag(tag)
            if prefix in ("E", "S"):
                return "bioes"
            after_same_type = previous_prefix != "O" and previous_type == entity_type
            if prefix == "I" and not after_same_type:
                entity_begins_with_i = True
            if prefix == "B" and not after_same_type:
                b_outside_touching_entities = True
            previous_prefix, previous_type = prefix, entity_type
    if entity_begins_with_i and not b_outside_touching_entities:
        return "iob1"
    return "iob2"
