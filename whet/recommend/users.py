"""The training users' histories, saved with the model so a user is recommended for by id alone.

``users.jsonl``, one line per user: ``{"user": id, "history": [item ids of the positives, oldest
first], "seen_other": [item ids the user interacted with but did not like]}``. Items are named by
id, not catalog position, so the file reads on its own; the catalog keeps removed items, so
every id stays resolvable.
"""

from __future__ import annotations

import json
from pathlib import Path

from whet.recommend.data import Case, Catalog, Interactions

USERS_FILE = "users.jsonl"


def save_users(path: Path, interactions: Interactions, catalog: Catalog) -> None:
    from whet.io.atomic import write_text_atomic

    lines = []
    for user, history in interactions.sequences.items():
        other = sorted(interactions.seen[user] - set(history))
        lines.append(json.dumps({"user": user, "history": [catalog.ids[i] for i in history],
                                 "seen_other": [catalog.ids[i] for i in other]}, ensure_ascii=False))
    write_text_atomic(Path(path), "".join(line + "\n" for line in lines))


def load_users(path: Path, catalog: Catalog) -> dict[str, Case] | None:
    """Each saved user's case (history and everything seen), or None for a model saved without them."""
    if not Path(path).is_file():
        return None
    users = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line:
            record = json.loads(line)
            history = [catalog.position[item] for item in record["history"]]
            seen = set(history) | {catalog.position[item] for item in record["seen_other"]}
            users[record["user"]] = Case(record["user"], history, seen)
    return users
