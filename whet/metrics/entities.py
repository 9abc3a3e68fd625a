"""Entity spans from BIO-style tags, chunked exactly as seqeval chunks them.

Two readings of a tag sequence exist and both are used in the field:

* ``mode="default"`` is conlleval's lenient reading (seqeval's ``get_entities``): any run of
  tags of one type is an entity, whatever the prefixes, so ``I-PER I-PER`` and a
  ``B-PER E-LOC`` fragment still yield entities. It reads IOB1, IOB2, IOE and BIOES tags.
* ``mode="strict"`` is seqeval's ``mode="strict"`` with a named scheme: only well-formed
  chunks count (``B-X I-X*`` for IOB2; ``S-X`` or ``B-X I-X* E-X`` for BIOES).

Spans are ``(type, start, end)`` word indices with ``end`` exclusive, so ``tags[start:end]``
is the entity. (seqeval's ``get_entities`` returns an inclusive end; its strict mode an
exclusive one.) The function runs on every prediction, so it is one linear pass over the
tags with no per-token objects.
"""

from __future__ import annotations

from functools import lru_cache

Span = tuple[str, int, int]

# Prefixes each strict scheme allows; seqeval raises on any other (e.g. E- under IOB2).
STRICT_SCHEMES: dict[str, frozenset[str]] = {
    "iob2": frozenset("BIO"),
    "bioes": frozenset("BIOES"),
}
# seqeval and much of the literature spell BIOES as IOBES.
_SCHEME_ALIASES = {"iobes": "bioes"}

MODES = ("default", "strict")


def entity_spans(tags: list[str], mode: str = "default", scheme: str | None = None) -> list[Span]:
    """Find the entities in one sentence's tags.

    Args:
        tags: One tag per word, each ``"O"`` or a ``B-``, ``I-``, ``E-`` or ``S-`` prefix
            followed by the entity type (``"B-PER"``). A bare prefix (``"B"``) has type ``"_"``.
        mode: ``"default"`` for conlleval's lenient chunking, ``"strict"`` to count only
            chunks that are well formed under ``scheme``.
        scheme: ``"iob2"`` or ``"bioes"`` (alias ``"iobes"``); required in strict mode and
            ignored in default mode, as in seqeval.

    Returns:
        ``(type, start, end)`` spans in order of position, ``end`` exclusive.

    Raises:
        ValueError: On an unknown mode or scheme, a tag that is not O/B/I/E/S, or (strict
            mode) a prefix the scheme does not allow.

    Example:
        >>> entity_spans(["B-PER", "I-PER", "O", "I-LOC"])
        [('PER', 0, 2), ('LOC', 3, 4)]
        >>> entity_spans(["B-PER", "I-PER", "O", "I-LOC"], mode="strict", scheme="iob2")
        [('PER', 0, 2)]
    """
    if mode == "default":
        return _lenient_spans(tags)
    if mode == "strict":
        return _strict_spans(tags, _strict_scheme(scheme))
    raise ValueError(f"unknown entity mode {mode!r}; use one of {', '.join(MODES)}")


def _strict_scheme(scheme: str | None) -> str:
    if scheme is None:
        raise ValueError("strict entity mode needs a scheme: set scheme to 'iob2' or 'bioes'")
    name = _SCHEME_ALIASES.get(scheme.lower(), scheme.lower())
    if name not in STRICT_SCHEMES:
        raise ValueError(
            f"unknown tag scheme {scheme!r} for strict mode; use one of {', '.join(STRICT_SCHEMES)}"
            " (or mode='default', which reads any of IOB1, IOB2, IOE and BIOES)"
        )
    return name


@lru_cache(maxsize=8192)
def _parse(tag: str, strict: bool) -> tuple[str, str]:
    """Split a tag into (prefix, type) the way seqeval does; cached since tag sets are small."""
    if tag == "O":
        return "O", "_"
    if not tag or tag[0] not in "BIES" or (len(tag) > 1 and tag[1] != "-"):
        raise ValueError(
            f"tag {tag!r} is not 'O' or a B-, I-, E-, S- tag; whet reads IOB1, IOB2, IOE and "
            "BIOES tags (convert BILOU first: U- to S-, L- to E-)"
        )
    # seqeval's strict reader strips every dash around the type, the lenient one only the
    # first; the two differ only for odd types like "B-PER-", kept here for exact parity.
    type_ = tag[2:].strip("-") if strict else tag[2:]
    return tag[0], type_ or "_"


def _lenient_spans(tags: list[str]) -> list[Span]:
    # A transcription of seqeval's end_of_chunk / start_of_chunk. Every non-O tag either
    # starts a chunk or continues the open one, so "previous tag is not O" means "a chunk is
    # open" and its begin offset is always valid when it ends.
    spans: list[Span] = []
    prev_prefix, prev_type, begin = "O", "", 0
    for i, tag in enumerate(tags):
        prefix, type_ = _parse(tag, False)
        if prev_prefix != "O" and (
            prev_prefix in "ES" or prefix in "BSO" or prev_type != type_
        ):
            spans.append((prev_type, begin, i))
        if prefix != "O" and (prefix in "BS" or prev_prefix in "OES" or prev_type != type_):
            begin = i
        prev_prefix, prev_type = prefix, type_
    if prev_prefix != "O":
        spans.append((prev_type, begin, len(tags)))
    return spans


def _strict_spans(tags: list[str], scheme: str) -> list[Span]:
    allowed = STRICT_SCHEMES[scheme]
    parsed = [_parse(tag, True) for tag in tags]
    for tag, (prefix, _) in zip(tags, parsed):
        if prefix not in allowed:
            raise ValueError(
                f"tag {tag!r} is not valid in the {scheme.upper()} scheme (prefixes allowed: "
                f"{', '.join(sorted(allowed))}); use scheme='bioes' or mode='default'"
            )
    # IOB2 chunks close implicitly; a BIOES chunk counts only if it closes on E- (or is S-).
    needs_end = scheme == "bioes"
    spans: list[Span] = []
    i, n = 0, len(parsed)
    while i < n:
        prefix, type_ = parsed[i]
        if prefix == "S":
            spans.append((type_, i, i + 1))
            i += 1
            continue
        if prefix != "B":
            # A chunk must open with B- (or S-); stray I-/E- tags are not entities here.
            i += 1
            continue
        j, last = i + 1, "B"
        while j < n and last != "E":
            next_prefix, next_type = parsed[j]
            if next_type != type_ or next_prefix not in "IE":
                break
            last = next_prefix
            j += 1
        if not needs_end or last == "E":
            spans.append((type_, i, j))
        i = j
    return spans
