"""Generate the synthetic question-answering and multiple-choice demo sets.

Writes, from templates and word lists written for whet (no existing corpus is used):

* ``demo/qa/train.jsonl`` and ``dev.jsonl``: short made-up biographies with questions about
  them, a quarter of them unanswerable (SQuAD v2.0 style), answers with character offsets.
* ``demo/multiple-choice/train.jsonl`` and ``dev.jsonl``: everyday-knowledge questions with
  four options each.
* ``demo/qa/README.md`` and ``demo/multiple-choice/README.md``, with counts computed here.

    python scripts/make_qa_demo_data.py

Standard library only, fixed seed: rerunning rewrites byte-identical files.
"""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

SEED = 20240612
DEMO = Path(__file__).resolve().parent.parent / "demo"

# --- question answering ----------------------------------------------------------------------

FIRST = {"train": ["Ana", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas",
                   "Keiko", "Lars", "Maya", "Nikos", "Olga", "Pavel", "Rosa", "Samir", "Tara", "Umberto"],
         "dev": ["Vera", "Wim", "Yara", "Zoltan", "Amira", "Bastian", "Carmen", "Dario"]}
LAST = ["Silva", "Okafor", "Lindqvist", "Moreau", "Novak", "Tanaka", "Ferreira", "Kowalski", "Haddad", "Brennan"]
CITIES = {"train": ["Porto", "Lyon", "Gdansk", "Osaka", "Valencia", "Bergen", "Leeds", "Graz", "Tampere", "Bologna"],
          "dev": ["Cork", "Utrecht", "Brno", "Seville"]}
JOBS = ["baker", "nurse", "carpenter", "pilot", "teacher", "plumber", "librarian", "chemist", "gardener", "tailor",
        "architect", "dentist", "journalist", "electrician", "florist"]
COMPANY_FIRST = ["Brightfield", "Oakmere", "Silverline", "Northgate", "Redwater", "Larkspur", "Stonebridge", "Fernhill"]
COMPANY_KIND = ["Bakery", "Clinic", "Workshop", "Airways", "School", "Library", "Studio", "Gardens", "Press", "Labs"]
HOBBIES = ["painting watercolours", "playing chess", "growing tomatoes", "cycling along the coast",
           "reading detective novels", "baking sourdough bread", "climbing", "playing the cello",
           "birdwatching", "building model ships", "swimming in the sea", "writing poems"]
PETS = [("cat", ["Pepper", "Miso", "Luna", "Biscuit"]), ("dog", ["Rex", "Nala", "Toffee", "Bruno"]),
        ("parrot", ["Kiwi", "Mango"]), ("rabbit", ["Clover", "Hazel"])]

# How a context states facts (the fields that are answers), and how a question asks for each.
SENTENCES = {
    "city": ["{name} lives in {city}.", "{name} moved to {city} a few years ago.", "{name} has a small flat in {city}."],
    "work": ["{first} works as a {job} at {company}.", "By profession {first} is a {job}, employed by {company}."],
    "hobby": ["In the evenings {first} enjoys {hobby}.", "At weekends {first} likes {hobby}."],
    "pet": ["{first} has a {animal} called {pet}.", "{first} lives with a {animal} named {pet}."],
}
FACT_QUESTIONS = {
    "city": ["Where does {full} live?", "In which city does {first} live?"],
    "job": ["What is {full}'s job?", "What does {first} do for a living?"],
    "company": ["Who does {full} work for?", "Which company employs {first}?"],
    "hobby": ["What does {full} do for fun?", "What is {first}'s hobby?"],
    "pet": ["What is the name of {full}'s {animal}?", "What is {first}'s {animal} called?"],
}
ALWAYS_UNANSWERABLE = ["How old is {full}?", "Where was {first} born?", "What is {first}'s favourite food?"]


def _person(split: str, first: str, rng: random.Random) -> dict:
    animal, names = rng.choice(PETS)
    return {"first": first, "full": f"{first} {rng.choice(LAST)}", "city": rng.choice(CITIES[split]),
            "job": rng.choice(JOBS), "company": f"{rng.choice(COMPANY_FIRST)} {rng.choice(COMPANY_KIND)}",
            "hobby": rng.choice(HOBBIES), "animal": animal, "pet": rng.choice(names)}


def _fill(template: str, values: dict) -> tuple[str, dict[str, int]]:
    """The sentence, and where in it each field's value starts."""
    text, starts = "", {}
    for literal, field, _, _ in string.Formatter().parse(template):
        text += literal
        if field is not None:
            starts[field] = len(text)
            text += values[field]
    return text, starts


def _paragraph(person: dict, topics: list[str], rng: random.Random) -> tuple[str, dict[str, tuple[str, int]]]:
    """Sentences on ``topics`` (the first names the person in full); each stated fact's (answer, offset)."""
    text, answers = "", {}
    for i, topic in enumerate(topics):
        values = {**person, "name": person["full"] if i == 0 else person["first"]}
        sentence, starts = _fill(rng.choice(SENTENCES[topic]), values)
        shift = len(text) + (1 if text else 0)
        for field, start in starts.items():
            if field in FACT_QUESTIONS:
                answers[field] = (values[field], start + shift)
        text = f"{text} {sentence}" if text else sentence
    return text, answers


def make_qa(split: str, n_contexts: int, rng: random.Random) -> list[dict]:
    rows = []
    for c in range(n_contexts):
        people = [_person(split, first, rng) for first in rng.sample(FIRST[split], rng.choice([1, 2, 2, 3]))]
        context, per_person = "", []
        for person in people:
            topics = ["city"] + rng.sample(["work", "hobby", "pet"], rng.randint(0, 3))
            text, answers = _paragraph(person, topics, rng)
            shift = len(context) + (1 if context else 0)
            per_person.append({f: (a, s + shift) for f, (a, s) in answers.items()})
            context = f"{context} {text}" if context else text
        for q in range(rng.randint(2, 4)):
            who = rng.randrange(len(people))
            person, known = people[who], per_person[who]
            if rng.random() < 0.25:  # unanswerable: a fact the context does not state, or never states
                missing = [f for f in FACT_QUESTIONS if f not in known]
                template = rng.choice(FACT_QUESTIONS[rng.choice(missing)] if missing and rng.random() < 0.7
                                      else ALWAYS_UNANSWERABLE)
                answers = {"text": [], "answer_start": []}
            else:
                fact = rng.choice(sorted(known))
                template = rng.choice(FACT_QUESTIONS[fact])
                text, start = known[fact]
                assert context[start:start + len(text)] == text
                answers = {"text": [text], "answer_start": [start]}
            rows.append({"id": f"{split}-{c}-{q}", "question": template.format(**person), "context": context,
                         "answers": answers})
    return rows


# --- multiple choice -------------------------------------------------------------------------

CATEGORIES = {
    "fruit": ["an apple", "a pear", "a mango", "a plum", "a cherry", "a peach", "a banana", "a lemon", "an apricot",
              "a grape"],
    "vegetable": ["a carrot", "an onion", "a leek", "a cabbage", "a potato", "a turnip", "a cucumber", "a radish"],
    "bird": ["a sparrow", "an eagle", "a robin", "a pigeon", "a heron", "a swan", "an owl", "a parrot"],
    "tool": ["a hammer", "a screwdriver", "a saw", "a wrench", "a chisel", "a drill", "a spanner", "a file"],
    "musical instrument": ["a violin", "a trumpet", "a piano", "a flute", "a drum", "a guitar", "a harp", "a cello"],
    "vehicle": ["a bicycle", "a tractor", "a bus", "a lorry", "a scooter", "a tram", "a van", "a motorbike"],
    "piece of furniture": ["a chair", "a sofa", "a wardrobe", "a bookshelf", "a stool", "a desk", "a bench", "a bed"],
    "piece of clothing": ["a jacket", "a scarf", "a sweater", "a skirt", "a coat", "a glove", "a shirt", "a sock"],
}
PLACES = [("buy bread", "a bakery"), ("borrow a book", "a library"), ("see a doctor", "a clinic"),
          ("catch a train", "a station"), ("post a letter", "a post office"), ("watch a film", "a cinema"),
          ("go swimming", "a swimming pool"), ("buy medicine", "a pharmacy"), ("see paintings", "a museum"),
          ("fill up the car", "a petrol station"), ("board a plane", "an airport"), ("get a haircut", "a barber"),
          ("withdraw cash", "a bank"), ("buy vegetables", "a market")]
OPPOSITES = [("hot", "cold"), ("tall", "short"), ("early", "late"), ("heavy", "light"), ("empty", "full"),
             ("happy", "sad"), ("open", "closed"), ("wet", "dry"), ("fast", "slow"), ("loud", "quiet"),
             ("rich", "poor"), ("old", "young"), ("hard", "soft"), ("clean", "dirty"), ("strong", "weak")]


def _choice(question: str, right: str, wrong_pool: list[str], rng: random.Random) -> dict:
    options = rng.sample(sorted(set(wrong_pool) - {right}), 3)
    answer = rng.randrange(4)
    options.insert(answer, right)
    return {"question": question, "options": options, "answer": answer}


def make_choices(split: str, n: int, rng: random.Random) -> list[dict]:
    # Dev asks about the last two members of each category, which train never asks about.
    members = {c: (m[:-2] if split == "train" else m[-2:]) for c, m in CATEGORIES.items()}
    rows = []
    while len(rows) < n:
        kind = rng.random()
        if kind < 0.6:
            category = rng.choice(sorted(CATEGORIES))
            others = [m for c, ms in CATEGORIES.items() if c != category for m in ms]
            template = rng.choice(["Which of these is a {c}?", "Which one is a {c}?", "Pick the {c}."])
            row = _choice(template.format(c=category), rng.choice(members[category]), others, rng)
        elif kind < 0.8:
            activity, place = rng.choice(PLACES)
            row = _choice(f"Where would you go to {activity}?", place, [p for _, p in PLACES], rng)
        else:
            word, opposite = rng.choice(OPPOSITES)
            pool = [w for pair in OPPOSITES for w in pair if word not in pair]
            row = _choice(f"What is the opposite of {word}?", opposite, pool, rng)
        rows.append({"id": f"{split}-{len(rows)}", **row})
    return rows


# --- files -----------------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _qa_readme(train: list[dict], dev: list[dict]) -> str:
    def counts(rows: list[dict]) -> tuple[int, int, int]:
        unanswerable = sum(not r["answers"]["text"] for r in rows)
        return len(rows), len(rows) - unanswerable, unanswerable

    (tn, ta, tu), (dn, da, du) = counts(train), counts(dev)
    return f"""# Question-answering demo data

Synthetic, generated by `scripts/make_qa_demo_data.py` from templates and word lists
written for whet; every person and company is invented. Apache-2.0, like the project.

Short biographies of one to three people, each with questions about them in the SQuAD v2.0
style: some cannot be answered from the context (a fact the text does not
state), so the model must learn to give an empty answer. Dev uses first names and
cities that train never uses. One JSON object per line:

```json
{json.dumps(train[0], ensure_ascii=False)}
```

| | train | dev |
|---|---:|---:|
| questions | {tn} | {dn} |
| answerable | {ta} | {da} |
| unanswerable | {tu} | {du} |
"""


def _choice_readme(train: list[dict], dev: list[dict]) -> str:
    return f"""# Multiple-choice demo data

Synthetic, generated by `scripts/make_qa_demo_data.py` from templates and word lists
written for whet. Apache-2.0, like the project.

Everyday-knowledge questions with four options each: which option belongs to a category
(fruit, tool, vehicle, ...), where you would go to do something, the opposite of a word.
Dev asks about category members that train never asks about. The right option's
position is uniform. One JSON object per line, `answer` is the 0-based index of the
right option:

```json
{json.dumps(train[0], ensure_ascii=False)}
```

| | train | dev |
|---|---:|---:|
| questions | {len(train)} | {len(dev)} |
"""


def main() -> None:
    rng = random.Random(SEED)
    qa_train, qa_dev = make_qa("train", 120, rng), make_qa("dev", 30, rng)
    mc_train, mc_dev = make_choices("train", 300, rng), make_choices("dev", 80, rng)
    _write(DEMO / "qa" / "train.jsonl", _jsonl(qa_train))
    _write(DEMO / "qa" / "dev.jsonl", _jsonl(qa_dev))
    _write(DEMO / "qa" / "README.md", _qa_readme(qa_train, qa_dev))
    _write(DEMO / "multiple-choice" / "train.jsonl", _jsonl(mc_train))
    _write(DEMO / "multiple-choice" / "dev.jsonl", _jsonl(mc_dev))
    _write(DEMO / "multiple-choice" / "README.md", _choice_readme(mc_train, mc_dev))
    print(f"qa: {len(qa_train)} train / {len(qa_dev)} dev questions; "
          f"multiple choice: {len(mc_train)} train / {len(mc_dev)} dev questions -> {DEMO}")


if __name__ == "__main__":
    main()
