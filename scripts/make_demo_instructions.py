"""Generate whet's small instruction-tuning demo set from the intent demo set.

Writes ``demo/instructions/train.jsonl``, ``demo/instructions/dev.jsonl`` and
``demo/instructions/README.md``. Each customer message of ``demo/intents`` becomes a
prompt, and the reply is the support agent's answer written here for its intent:

    {"prompt": "Customer: I lost my card on the bus.\\nAgent:", "response": " I have blocked ..."}

One reply per intent, so a model that learns the set answers each new message with the
reply of its intent, and exact match on dev measures that. The replies were written for
whet; the data is synthetic and released under the project's license (Apache-2.0).

    python scripts/make_demo_instructions.py   # byte-identical output on every run
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "demo" / "intents"
OUT = ROOT / "demo" / "instructions"

REPLIES = {
    "check_balance": "You can see your balance on the home screen of the app, or I can read it to you after a "
                     "quick security check.",
    "transfer_money": "I can set up that transfer for you. Please confirm the amount and the recipient's account.",
    "lost_card": "I have blocked your card so nobody can use it, and a new one will arrive within five working days.",
    "report_fraud": "Thank you for telling us. I have frozen the card and opened a fraud case; you will not pay for "
                    "charges you did not make.",
    "change_address": "I can update your address. Please send the new address and we will confirm the change by email.",
    "open_account": "Happy to help you open an account. You can apply in the app in about ten minutes with your ID.",
    "close_account": "I am sorry to see you go. I can close the account once its balance is moved or paid out.",
    "loan_inquiry": "Our loan team can give you a quote. Tell me the amount and term you have in mind.",
    "reset_password": "I have sent a password reset link to your email; it is valid for one hour.",
    "talk_to_agent": "Of course, I am connecting you with a member of our support team now.",
}


def prompt(text: str) -> str:
    return f"Customer: {text}\nAgent:"


def convert(split: str) -> list[dict]:
    rows = [json.loads(line) for line in (SOURCE / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
    return [{"prompt": prompt(row["text"]), "response": " " + REPLIES[row["label"]]} for row in rows]


def readme(train: list[dict], dev: list[dict]) -> str:
    counts = Counter(r["response"] for r in train)
    return f"""# Instruction demo set

A tiny instruction-tuning set for the `causal-lm` task, built by
`scripts/make_demo_instructions.py` from the customer messages of `../intents/`: each
message is a prompt, and the response is a support agent's reply written for the
message's intent (one reply per intent, {len(REPLIES)} intents). Synthetic, released
under the project's license (Apache-2.0).

```json
{json.dumps(train[0], ensure_ascii=False)}
```

| | train | dev |
|---|---:|---:|
| examples | {len(train)} | {len(dev)} |
| distinct replies | {len(counts)} | {len(Counter(r["response"] for r in dev))} |

Dev messages never occur in train, so exact match on dev (with `eval.generate: true`)
measures whether the model answers new messages with the right reply. The loss is on
the response tokens only.
"""


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    train, dev = convert("train"), convert("dev")
    for name, rows in (("train", train), ("dev", dev)):
        (OUT / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                           encoding="utf-8")
    (OUT / "README.md").write_text(readme(train, dev), encoding="utf-8")
    print(f"wrote {OUT}: {len(train)} train, {len(dev)} dev examples")


if __name__ == "__main__":
    main()
