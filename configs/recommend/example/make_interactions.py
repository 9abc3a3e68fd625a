"""Write the example bookshop's interactions (train.csv, dev.csv) from books.jsonl, deterministically.

    python configs/recommend/example/make_interactions.py

Each reader has a favourite shelf, and often a second one; most books they take come from those,
one in ten from any shelf. Within a shelf some books are much more popular than others (a
Zipf-like weight), and a few books belong to two shelves (a mystery on the moon). Ratings run
1-5; a reader sometimes rates a favourite-shelf book 3 and usually rates a stray book low, so
not everything they took is a positive (the config's min_rating is 4). Each reader's dev target is
the next book they liked after their training books.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 2024
READERS = 72
SHELF_WEIGHTS = {"space": 1.2, "baking": 1.0, "garden": 1.0, "crime": 1.3, "history": 0.8, "outdoors": 0.9}
# books that readers of a second shelf also take
BRIDGES = {"b05": "crime", "b34": "garden", "b59": "space", "b58": "baking", "b29": "baking", "b10": "history"}


def shelves(books: list[dict]) -> dict[str, list[str]]:
    by_shelf: dict[str, list[str]] = {}
    for book in books:
        by_shelf.setdefault(book["shelf"], []).append(book["id"])
    for book, shelf in BRIDGES.items():
        by_shelf[shelf].append(book)
    return by_shelf


def write(folder: Path) -> str:
    """Write train.csv and dev.csv into ``folder``; return a line saying how much was written."""
    rng = random.Random(SEED)
    books = [json.loads(line) for line in (HERE / "books.jsonl").read_text(encoding="utf-8").splitlines() if line]
    by_shelf = shelves(books)
    # A Zipf-like popularity within each shelf, in an order of its own (not the catalog's).
    weight = {}
    for shelf, ids in by_shelf.items():
        order = rng.sample(ids, len(ids))
        for rank, book in enumerate(order):
            weight[(shelf, book)] = 1.0 / (rank + 1) ** 0.9
    names = list(SHELF_WEIGHTS)
    train, dev = ["user,book,rating,day"], ["user,book,rating,day"]
    for number in range(1, READERS + 1):
        reader = f"r{number:02d}"
        favourite = rng.choices(names, weights=list(SHELF_WEIGHTS.values()))[0]
        second = rng.choice([n for n in names if n != favourite]) if rng.random() < 0.45 else favourite
        taken: set[str] = set()
        day = rng.randint(1, 60)

        def draw() -> tuple[str, int]:
            roll = rng.random()
            shelf, stray = (favourite, False) if roll < 0.7 else (second, False) if roll < 0.9 else (rng.choice(names), True)
            pool = [b for b in by_shelf[shelf] if b not in taken]
            if not pool:  # the shelf is read out: any book left
                pool, shelf, stray = [b["id"] for b in books if b["id"] not in taken], None, True
            book = rng.choices(pool, weights=[weight.get((shelf, b), 0.05) for b in pool])[0]
            taken.add(book)
            if stray and shelf not in (favourite, second):
                rating = rng.choice([2, 3, 3, 4])
            else:
                rating = rng.choice([3, 4, 5, 5, 5, 4, 4])
            return book, rating

        for _ in range(rng.randint(5, 10)):
            book, rating = draw()
            train.append(f"{reader},{book},{rating},{day}")
            day += rng.randint(1, 20)
        while True:  # the next book the reader liked
            book, rating = draw()
            if rating >= 4:
                dev.append(f"{reader},{book},{rating},{day}")
                break
            train.append(f"{reader},{book},{rating},{day}")
            day += rng.randint(1, 20)
    (folder / "train.csv").write_text("\n".join(train) + "\n", encoding="utf-8")
    (folder / "dev.csv").write_text("\n".join(dev) + "\n", encoding="utf-8")
    return f"{len(train) - 1} training interactions and {len(dev) - 1} dev targets for {READERS} readers"


if __name__ == "__main__":
    print(write(HERE))
