"""Generate whet's small demo datasets.

Writes, relative to the repository root:

* ``demo/intents/train.jsonl`` and ``demo/intents/dev.jsonl``: a banking
  customer-service intent-classification set, 10 intents, 30 train and
  10 dev examples per intent, one ``{"text": ..., "label": ...}`` object per line.
* ``demo/ner/train.conll`` and ``demo/ner/dev.conll``: a small named-entity set
  (PER, ORG, LOC, PRODUCT; IOB2 tags), one ``token<TAB>tag`` pair per line and a
  blank line after each sentence. 300 train and 100 dev sentences.
* ``demo/README.md``: a description of both sets, with counts computed here.

All of this data is synthetic. It was written for the whet project: the
sentence templates, word lists and names below were written for it and are
not copied from any existing corpus. Every organisation and product name is
made up; person names are made by pairing common first names and surnames.
The data is released under the project's license (Apache-2.0).

The output is deterministic: a fixed random seed, standard library only, no
iteration over sets. Running ``python scripts/make_demo_data.py`` again
rewrites byte-identical files.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

SEED = 20240611
ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"

# ---------------------------------------------------------------------------
# Intents
# ---------------------------------------------------------------------------

INTENT_TRAIN_PER_LABEL = 30
INTENT_DEV_PER_LABEL = 10

INTENT_SLOTS: dict[str, list[str]] = {
    "acct": [
        "checking", "savings", "joint", "business", "student", "everyday",
        "holiday savings", "current", "premium checking",
    ],
    "amount": [
        "$50", "$1,200", "200 dollars", "€300", "£75", "$2,500", "500 euros",
        "$20", "1000 dollars", "$85.50", "€1,500", "£40", "$310", "750 pounds",
        "$60", "$4,000",
    ],
    "name": [
        "my mom", "my sister", "Carlos", "Aisha", "my landlord", "John",
        "Mei Ling", "Peter", "my roommate", "Fatima", "Olivia", "Daniel",
        "my dad", "my brother", "Grace", "Tom", "my daughter", "Samir",
    ],
    "city": [
        "Denver", "Madrid", "Toronto", "Leeds", "Austin", "Porto", "Nairobi",
        "Glasgow", "Phoenix", "Dublin", "Manila", "Boston", "Lyon", "Perth",
    ],
    "card": [
        "debit card", "credit card", "Visa card", "Mastercard", "bank card",
        "ATM card", "travel card", "platinum card", "corporate card",
    ],
    "street": [
        "12 Oak Street", "45 Elm Avenue", "7 Harbour Road",
        "300 King Street, Apt 4B", "88 Maple Drive", "19 Birch Lane",
        "5 Mill Court", "230 Riverside Boulevard", "61 Station Road",
        "14 Willow Way, Unit 3",
    ],
    "loan": [
        "mortgage", "car loan", "personal loan", "student loan",
        "home equity loan", "auto loan", "small business loan",
        "home improvement loan",
    ],
    "time": [
        "yesterday", "this morning", "last night", "on Friday", "an hour ago",
        "over the weekend", "earlier today", "two days ago",
    ],
    "channel": [
        "app", "mobile app", "website", "online banking portal", "banking app",
    ],
    "count": ["two", "three", "four", "several", "a few", "five"],
    "loanamt": [
        "$15,000", "$250,000", "20,000 euros", "£8,000", "$40,000", "$5,000",
        "€120,000", "$300,000", "10,000 dollars",
    ],
}

INTENT_TEMPLATES: dict[str, list[str]] = {
    "check_balance": [
        "What is my current balance?",
        "How much money do I have in my {acct} account?",
        "Can you tell me the balance on my {acct} account?",
        "I'd like to check my {acct} balance.",
        "Show me how much is left in my account.",
        "What's the available balance on the account ending in {digits}?",
        "Did my paycheck arrive? I want to see what I have now.",
        "How much can I still spend this month from my {acct} account?",
        "I need to know my balance before I pay rent.",
        "Is there enough in my {acct} account to cover {amount}?",
        "Balance inquiry for my {acct} account.",
        "Please tell me what's in my account right now.",
        "Where can I see my balance in the {channel}?",
        "The {channel} won't load, can you read me my balance?",
        "Can I get a quick balance check?",
        "How much do I have left after the purchases {time}?",
        "What does my {acct} account show as the current total?",
        "Could you confirm the remaining funds in my {acct} account?",
        "Do I have at least {amount} available on my {card}?",
        "How much is sitting in my account ending in {digits}?",
    ],
    "transfer_money": [
        "I want to send {amount} to {name}.",
        "Transfer {amount} from my {acct} account to my {acct2} account.",
        "How do I move money into {name}'s account?",
        "Please wire {amount} to {name} in {city}.",
        "Can I transfer money to someone at another bank?",
        "I need to pay {name} back {amount} today.",
        "Send {amount} to the account ending in {digits}.",
        "What's the daily limit for sending money to other people?",
        "Move {amount} into my {acct} account please.",
        "Set up a recurring payment of {amount} every month to {name}.",
        "How long does an international transfer to {city} take?",
        "I'd like to make a payment of {amount} to my landlord.",
        "Can you help me send money abroad to {name}?",
        "I tried to send {amount} to {name} but I don't know their routing number.",
        "Is it possible to move {amount} onto my {card}?",
        "I want to split the dinner bill and send {name} {amount}.",
        "Can I schedule a transfer of {amount} for next Monday?",
        "Pay {amount} from my {acct} account to {name}.",
    ],
    "lost_card": [
        "I lost my {card}.",
        "I can't find my {card} anywhere.",
        "My wallet was stolen {time} with my {card} inside.",
        "I think I left my {card} at a restaurant in {city}.",
        "Please block my {card}, I misplaced it.",
        "How do I get a replacement {card}?",
        "My card is gone since {time}, can you freeze it?",
        "I dropped my {card} somewhere on the way home {time}.",
        "Can you send me a new {card}? The old one is lost.",
        "The ATM in {city} kept my {card} and never gave it back.",
        "Freeze my {card} until I find it.",
        "I need to cancel my {card} because I lost it.",
        "Lost my {card} {time}, please help.",
        "I can't remember where I put my {card} ending in {digits}.",
        "How long will it take to receive a replacement card in {city}?",
        "My {card} fell out of my pocket on the train {time}.",
        "I lost my purse with all my cards in it.",
        "Is there a fee for replacing a lost {card}?",
        "I left my {card} in a taxi in {city}, what should I do?",
    ],
    "report_fraud": [
        "There are charges on my {card} that I didn't make.",
        "Someone used my card to spend {amount} in {city}.",
        "I see a transaction of {amount} that I don't recognize.",
        "I think my {acct} account has been hacked.",
        "I got a suspicious text asking for my PIN.",
        "Somebody withdrew {amount} from my {acct} account without my permission.",
        "I want to dispute an unauthorized payment of {amount}.",
        "There's a purchase from a shop in {city} but I've never been there.",
        "Report fraudulent activity on my account ending in {digits}.",
        "I received a phishing email pretending to be from the bank.",
        "My {card} is still in my wallet but someone is making purchases with it.",
        "Who do I call about a scam? I sent {amount} to a fake seller.",
        "There are {count} small charges on my {card} I never authorized.",
        "A stranger called claiming to be from your security team and asked for my password.",
        "I need to report identity theft.",
        "Why is there a {amount} payment to a company I've never heard of?",
        "Someone opened an account in my name without my knowledge.",
        "My {card} was charged twice by a merchant in {city} I don't know.",
        "I didn't authorize the {amount} withdrawal from {time}.",
    ],
    "change_address": [
        "I moved to {city} and need to update my address.",
        "Please change my mailing address to {street}.",
        "How do I update my home address?",
        "My new address is {street}, {city}.",
        "I'm relocating to {city} next month, where do I change my address?",
        "Can you update the address on my {acct} account?",
        "Send my statements to {street} from now on.",
        "I need to change the billing address for my {card}.",
        "Update my contact details, I've moved to {city}.",
        "We just bought a house in {city}, so my address has changed.",
        "Where in the {channel} can I edit my address?",
        "My street address is wrong on my statements.",
        "Please correct my postal code, it should match {street}.",
        "Change of address request: {street}, {city}.",
        "I no longer live at my old address, please update it to {street}.",
        "Can I change my address without visiting a branch?",
        "My replacement {card} went to my old address, I need to fix my details.",
        "I've moved from {city} to {city2}, how do I let the bank know?",
    ],
    "open_account": [
        "I want to open a new {acct} account.",
        "How do I open an account with you?",
        "What do I need to sign up for a {acct} account?",
        "Can I open a joint account with {name}?",
        "I'd like to become a customer and open an account.",
        "Is there a minimum deposit to open a {acct} account?",
        "I'm moving to {city} and want to open an account at a branch there.",
        "Can my teenager get their own {acct} account?",
        "Help me set up a {acct} account online.",
        "What documents are required to open an account?",
        "I'd like a second {acct} account for my savings goals.",
        "Can I open a business account for my shop in {city}?",
        "Start a new {acct} account for me please.",
        "Do you offer student accounts? I want to open one.",
        "How long does it take to open an account in the {channel}?",
        "I want to start saving, can I open a {acct} account today with {amount}?",
        "Can I open an account for {name} as a gift?",
    ],
    "close_account": [
        "I want to close my {acct} account.",
        "How do I cancel my {acct} account?",
        "Please shut down the account ending in {digits}.",
        "I'm switching banks and need to close everything.",
        "Close my {acct} account and send the remaining balance to {name}.",
        "Can I close my account online or do I have to visit a branch?",
        "I no longer need my {acct} account, please terminate it.",
        "What happens to my money if I close my {acct} account?",
        "I'm moving abroad to {city} and want to close my accounts.",
        "Delete my {acct} account please.",
        "Is there a fee for closing a {acct} account?",
        "My father passed away and I need to close his {acct} account.",
        "I'd like to end my relationship with the bank and close my account.",
        "How do I close the joint account I share with {name}?",
        "Cancel my account, I'm not happy with the service.",
        "Please close my account and mail the check to {street}.",
        "I opened a {acct} account by mistake, can you close it?",
    ],
    "loan_inquiry": [
        "What are your interest rates for a {loan}?",
        "Can I apply for a {loan} of {loanamt}?",
        "How much could I borrow with a {loan}?",
        "I'm interested in a {loan}, what are the requirements?",
        "Do I qualify for a {loan}?",
        "What would the monthly payment be on a {loanamt} {loan}?",
        "I want to buy a house in {city}, can you tell me about mortgages?",
        "How long does approval take for a {loan}?",
        "Can I refinance my {loan}?",
        "What credit score do I need to get a {loan}?",
        "I need {loanamt} for home repairs, do you offer loans?",
        "Is it possible to pay off my {loan} early?",
        "Tell me about your {loan} options.",
        "Could I borrow {loanamt} to cover my tuition?",
        "What's the status of my {loan} application?",
        "I'd like some information about borrowing money for a new car.",
        "Can I increase my {loan} by {loanamt}?",
    ],
    "reset_password": [
        "I forgot my password.",
        "How do I reset my {channel} password?",
        "I'm locked out of the {channel}.",
        "My password isn't working in the {channel}, can I change it?",
        "I didn't get the password reset email.",
        "I forgot the PIN for my {card}, how do I set a new one?",
        "I've entered the wrong password too many times and now I'm blocked.",
        "Reset my login details for the {channel} please.",
        "I need a new password for online banking.",
        "The verification code for my password change never arrived.",
        "How do I change my username and password?",
        "I can't sign in to the {channel} since I got a new phone.",
        "My login is locked after {count} failed attempts.",
        "Where do I go to set a new password?",
        "I think someone knows my password, I want to change it right away.",
        "The forgot password link in the {channel} doesn't work.",
        "I can't log in {time}, it says my password is wrong.",
    ],
    "talk_to_agent": [
        "Can I speak to a real person?",
        "I want to talk to a human.",
        "Please connect me with an agent.",
        "Is there someone I can call about my {acct} account?",
        "Transfer me to customer service.",
        "I'd rather talk to a representative about my {acct} account.",
        "Get me a live agent please.",
        "Your bot isn't helping, I need a person.",
        "What's the phone number for support in {city}?",
        "Can someone call me back {time2}?",
        "I need to speak with a manager.",
        "How do I reach your support team?",
        "Let me talk to somebody about my {card}.",
        "Can I chat with an advisor about a {loan}?",
        "Operator please.",
        "Is there a branch in {city} where I can talk to someone in person?",
        "Put me through to a human being.",
        "I've been waiting since {time}, I want to speak to an actual employee.",
    ],
}

# Extra slot list only used where the template names it ({time2}).
INTENT_SLOTS["time2"] = ["today", "this afternoon", "tomorrow morning", "before 5pm", "later today"]

PREFIXES = [
    "Hi, ", "Hello, ", "Hey, ", "Good morning, ", "Excuse me, ", "Hi there, ",
    "Hello there, ", "Quick question: ", "Um, ", "Sorry to bother you, ",
]
SUFFIXES = [
    " Thanks.", " Thank you!", " Thanks in advance.", " Appreciate it.",
    " Please help.", " Cheers.", " It's urgent.",
]


def _fill(template: str, slots: dict[str, list[str]], rng: random.Random) -> str:
    """Fill {slot} placeholders; {x2} draws from list x, distinct from {x}."""
    chosen: dict[str, str] = {}

    def repl(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "digits":
            return f"{rng.randint(1000, 9999)}"
        base = key.rstrip("0123456789") if key not in slots else key
        pool = slots[base]
        used = [v for k, v in chosen.items() if k.rstrip("0123456789") == base]
        options = [v for v in pool if v not in used] or pool
        value = rng.choice(options)
        chosen[key] = value
        return value

    return re.sub(r"\{(\w+)\}", repl, template)


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 5]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    op = rng.randrange(3)
    j = rng.randint(1, len(w) - 3)
    if op == 0:  # swap two adjacent letters
        w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    elif op == 1:  # drop a letter
        w = w[:j] + w[j + 1:]
    else:  # double a letter
        w = w[:j] + w[j] + w[j:]
    words[i] = w
    return " ".join(words)


def _decorate(core: str, rng: random.Random) -> str:
    """Add politeness, casual casing and the odd typo around a filled template."""
    text = core
    if rng.random() < 0.4:
        prefix = rng.choice(PREFIXES)
        first = text.split(" ", 1)[0]
        if first not in {"I", "I'd", "I'm", "I've", "ATM"}:
            text = text[0].lower() + text[1:]
        text = prefix + text
    if rng.random() < 0.3:
        has_please = "please" in text.lower()
        options = [x for x in SUFFIXES if not (has_please and "please" in x.lower())]
        text = text + rng.choice(options)
    if rng.random() < 0.12:  # chat-style: all lower case, no final full stop
        text = text.lower().rstrip(".")
    if rng.random() < 0.08:
        text = _typo(text, rng)
    return text


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def make_intents(rng: random.Random) -> tuple[list[dict], list[dict]]:
    need = INTENT_TRAIN_PER_LABEL + INTENT_DEV_PER_LABEL
    seen_cores: set[str] = set()
    seen_texts: set[str] = set()
    train: list[dict] = []
    dev: list[dict] = []
    for label, templates in INTENT_TEMPLATES.items():
        order = list(templates)
        rng.shuffle(order)
        exhausted = [False] * len(order)
        picked: list[str] = []
        while len(picked) < need:
            if all(exhausted):
                raise RuntimeError(f"not enough distinct sentences for {label}")
            for t_idx, template in enumerate(order):
                if len(picked) >= need or exhausted[t_idx]:
                    continue
                for _ in range(40):
                    core = _fill(template, INTENT_SLOTS, rng)
                    if _norm(core) not in seen_cores:
                        break
                else:
                    exhausted[t_idx] = True
                    continue
                seen_cores.add(_norm(core))
                text = _decorate(core, rng)
                if _norm(text) in seen_texts:
                    continue
                seen_texts.add(_norm(text))
                picked.append(text)
        rng.shuffle(picked)
        dev += [{"text": t, "label": label} for t in picked[:INTENT_DEV_PER_LABEL]]
        train += [{"text": t, "label": label} for t in picked[INTENT_DEV_PER_LABEL:]]
    rng.shuffle(train)
    rng.shuffle(dev)
    return train, dev


# ---------------------------------------------------------------------------
# NER
# ---------------------------------------------------------------------------

NER_TRAIN_SENTENCES = 300
NER_DEV_SENTENCES = 100
DEV_UNSEEN_RATE = 0.3  # chance that a dev entity slot draws from a dev-only list

FIRST_TRAIN = [
    "Maria", "James", "Aisha", "Kenji", "Olga", "Tomas", "Priya", "Lucas",
    "Fatima", "Daniel", "Sofia", "Chen", "Amara", "Ivan", "Elena", "Noah",
    "Leila", "Mateo", "Hannah", "Ravi", "Grace", "Omar", "Ingrid", "Diego",
    "Yuki", "Samuel", "Zara", "Pedro", "Nadia", "Victor",
]
LAST_TRAIN = [
    "Lopez", "Smith", "Okafor", "Tanaka", "Petrova", "Silva", "Sharma", "Martin",
    "Haddad", "Kim", "Rossi", "Wei", "Mensah", "Novak", "Garcia", "Brown",
    "Nasser", "Fernandez", "Weber", "Patel", "Olsen", "Ahmed", "Lindqvist",
    "Moreno", "Sato", "Adeyemi", "Khan", "Costa", "Ivanova", "Dubois",
]
FIRST_DEV = [
    "Beatriz", "Kwame", "Tariq", "Mei", "Anders", "Lucia", "Oluwaseun",
    "Henrik", "Rania", "Camille", "Dmitri", "Esther",
]
LAST_DEV = [
    "Castellano", "Nkemelu", "Bergstrom", "Yamamoto", "Quispe", "Szabo",
    "Oyelaran", "Kowalczyk", "Rahimi", "Delacroix", "Fitzgerald", "Achterberg",
]
ORG_TRAIN = [
    "Brightwater Logistics", "Kestrel Systems", "Northfield Bank",
    "Copperleaf Foods", "Harbor Point Insurance", "Bluefin Telecom",
    "Redwood Analytics", "Silverline Motors", "Greenhill Pharmaceuticals",
    "Orchard Retail Group", "Summit Airways", "Lumen Energy", "Aster Media",
    "Granite Construction Partners", "Pinecrest Hotels", "Vantage Software",
    "Meridian Capital", "Oakridge Electronics", "Tidewater Shipping",
    "Crescent Mobile", "Falcon Freight", "Ironbridge Steel", "Sunpeak Solar",
    "Willow Health", "Quartz Labs", "Dublin Cycle Works",
]
ORG_DEV = [
    "Marigold Textiles", "Stonegate Finance", "Cobalt Robotics",
    "Hollowbrook Dairy", "Nova Ridge Airlines", "Juniper Payments",
    "Saltmarsh Brewing Company", "Everlight Semiconductors", "Lisbon Paper Mills",
]
LOC_TRAIN = [
    "Lisbon", "Nairobi", "Toronto", "Osaka", "Berlin", "Sao Paulo", "New York",
    "Cape Town", "Mumbai", "Madrid", "Seattle", "Lagos", "Warsaw", "Dublin",
    "Melbourne", "Mexico City", "Cairo", "Oslo", "Singapore", "Buenos Aires",
    "Chicago", "Manila", "Hamburg", "Lyon", "Texas", "Bavaria", "Ontario",
    "Kenya",
]
LOC_DEV = [
    "Accra", "Porto", "Valencia", "Rotterdam", "Kyoto", "Montreal", "Lima",
    "Hanoi", "Tbilisi", "Salt Lake City", "Bristol", "Quebec",
]
PRODUCT_TRAIN = [
    "Nimbus X2", "Aurora Pro", "Zephyr 5", "Orbit Watch", "Lumina Lamp",
    "Stratus Tablet", "Vortex Blender", "Cirrus Router", "Polar Kettle",
    "Titan Drill 300", "Sparrow Phone", "Helix Headphones", "Atlas Backpack",
    "Nova Camera", "Ember Speaker", "Glide Scooter", "Pulse Band",
    "Terra Boots", "Mosaic Printer", "Comet Vacuum",
]
PRODUCT_DEV = [
    "Cascade Mini", "Lynx Keyboard", "Solstice Monitor", "Drift Earbuds",
    "Kite Drone", "Pebble Hub", "Meteor Fridge 9",
]

NER_FILLERS: dict[str, list[str]] = {
    "num": ["3", "12", "40", "250", "1,000", "4,500", "two", "five", "eighty"],
    "money": [
        "5 million dollars", "$ 120 million", "200 million euros", "$ 3 billion",
        "90 million pounds", "$ 45", "€ 30 million", "1.2 billion dollars",
    ],
    "day": [
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "March 3",
        "June 18", "the weekend", "New Year 's Eve",
    ],
    "pct": ["3", "7", "12", "1.5", "20"],
    "order": ["A-4471", "88213", "ZX-901", "556-12", "B77"],
}

NER_TEMPLATES = [
    "{PER} ordered a {PRODUCT} from {ORG} in {LOC} .",
    "{ORG} opened a new office in {LOC} on {day} .",
    "My {PRODUCT} stopped working after two days , can {ORG} replace it ?",
    "{PER} , the chief executive of {ORG} , resigned on {day} .",
    "Customers in {LOC} report long delays with the {PRODUCT} .",
    "{ORG} will ship the {PRODUCT} to stores in {LOC} next month .",
    "I spoke with {PER} from {ORG} about my refund .",
    "{ORG} agreed to buy {ORG} for {money} .",
    "The {PRODUCT} is out of stock at the {LOC} warehouse .",
    "{PER} flew from {LOC} to {LOC} to meet investors .",
    "Please ask {PER} to call me about the {PRODUCT} order .",
    "{ORG} shares rose {pct} percent after the {PRODUCT} launch .",
    "Does the {PRODUCT} work with the {PRODUCT} ?",
    "{PER} joined {ORG} as head of sales in {LOC} .",
    "Why was my {PRODUCT} delivered to {LOC} instead of {LOC} ?",
    "{ORG} recalled {num} thousand units of the {PRODUCT} .",
    "According to {PER} , {ORG} expects strong demand in {LOC} .",
    "Thanks {PER} , the {PRODUCT} arrived this morning .",
    "{ORG} and {ORG} signed a supply deal in {LOC} .",
    "Can I return a {PRODUCT} bought at the {LOC} store ?",
    "{PER} wrote a glowing review of the {PRODUCT} .",
    "The {LOC} branch of {ORG} closes early on {day} .",
    "Hi , this is {PER} , my order number is {order} .",
    "{ORG} announced that {PER} will lead its {LOC} team .",
    "I bought the {PRODUCT} last week and the screen already cracked .",
    "{PER} and {PER} met in {LOC} to discuss the merger .",
    "Is {ORG} still hiring engineers in {LOC} ?",
    "The new {PRODUCT} costs {money} in {LOC} .",
    "{ORG} moved its headquarters from {LOC} to {LOC} .",
    "Your agent {PER} promised me a free {PRODUCT} .",
    "Regulators in {LOC} fined {ORG} {money} on {day} .",
    "{PER} says the {PRODUCT} battery lasts all day .",
    "We need {num} more {PRODUCT} units for the {LOC} office .",
    "{ORG} hired {PER} to fix its supply chain .",
    "Where is the nearest {ORG} service center in {LOC} ?",
    "{PER} 's {PRODUCT} was repaired for free .",
    "After the outage , {ORG} apologized to customers in {LOC} .",
    "{PER} from {LOC} won the {ORG} design award .",
    "The latest {PRODUCT} update from {ORG} broke my settings .",
    "Analysts expect {ORG} to cut prices on the {PRODUCT} .",
    "{PER} will present the {PRODUCT} in {LOC} on {day} .",
    "My refund from {ORG} has not arrived yet .",
    "{LOC} is now the biggest market for {ORG} .",
    "I need a charger for my {PRODUCT} , please .",
    "Send the invoice to {PER} at our {LOC} office .",
    "The meeting with {ORG} in {LOC} was moved to {day} .",
    "{PER} cancelled the {PRODUCT} subscription on {day} .",
    "Ask Ms. {PERL} about the {PRODUCT} warranty .",
    "Mr. {PERL} complained that {ORG} never answered his emails .",
    "Our order {order} from {ORG} is stuck in customs in {LOC} .",
    "{ORG} plans to sell the {PRODUCT} in {LOC} and {LOC} .",
    "Is the {PRODUCT} cheaper than the {PRODUCT} ?",
    "Profits at {ORG} fell {pct} percent , chief financial officer {PER} said .",
    "{PER} tried to return the {PRODUCT} but {ORG} refused .",
    "Flights from {LOC} to {LOC} with {ORG} were cancelled on {day} .",
    "The {PRODUCT} keeps disconnecting from my wifi .",
    "Dear {PER} , thank you for contacting {ORG} support .",
    "{ORG} is hiring .",
    "Please call {PER} .",
    "{PRODUCT} sold out in {LOC} .",
    "Where is {PER} based ?",
    "Is the {PRODUCT} waterproof ?",
    "{ORG} leaves {LOC} .",
]

NER_TYPES = ["PER", "ORG", "LOC", "PRODUCT"]


def _ner_value(slot: str, dev: bool, rng: random.Random) -> tuple[str, str]:
    """Return (entity type, surface string) for an entity slot."""
    unseen = dev and rng.random() < DEV_UNSEEN_RATE
    if slot in ("PER", "PERL"):
        first = rng.choice(FIRST_DEV if unseen and rng.random() < 0.5 else FIRST_TRAIN)
        last = rng.choice(LAST_DEV if unseen else LAST_TRAIN)
        if slot == "PERL":
            return "PER", last
        r = rng.random()
        if r < 0.15:
            return "PER", first
        if r < 0.22:
            middle = rng.choice(FIRST_TRAIN)
            if middle != first:
                return "PER", f"{first} {middle} {last}"
        return "PER", f"{first} {last}"
    lists = {
        "ORG": (ORG_TRAIN, ORG_DEV),
        "LOC": (LOC_TRAIN, LOC_DEV),
        "PRODUCT": (PRODUCT_TRAIN, PRODUCT_DEV),
    }[slot]
    return slot, rng.choice(lists[1] if unseen else lists[0])


def _ner_sentence(template: str, dev: bool, rng: random.Random) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    used: list[str] = []
    for tok in template.split():
        m = re.fullmatch(r"\{(\w+)\}", tok)
        if not m:
            out.append((tok, "O"))
            continue
        slot = m.group(1)
        if slot in NER_FILLERS:
            out += [(t, "O") for t in rng.choice(NER_FILLERS[slot]).split()]
            continue
        for _ in range(20):
            etype, value = _ner_value(slot, dev, rng)
            if value not in used:
                break
        used.append(value)
        for k, t in enumerate(value.split()):
            out.append((t, ("B-" if k == 0 else "I-") + etype))
    return out


def make_ner(rng: random.Random) -> tuple[list[list[tuple[str, str]]], list[list[tuple[str, str]]]]:
    seen: set[tuple[str, ...]] = set()

    def build(n: int, dev: bool) -> list[list[tuple[str, str]]]:
        sents: list[list[tuple[str, str]]] = []
        order = list(NER_TEMPLATES)
        while len(sents) < n:
            rng.shuffle(order)
            for template in order:
                if len(sents) >= n:
                    break
                for _ in range(40):
                    sent = _ner_sentence(template, dev, rng)
                    key = tuple(t for t, _ in sent)
                    if key not in seen and 4 <= len(sent) <= 20:
                        break
                else:
                    continue
                seen.add(key)
                sents.append(sent)
        rng.shuffle(sents)
        return sents

    train = build(NER_TRAIN_SENTENCES, dev=False)
    dev = build(NER_DEV_SENTENCES, dev=True)
    return train, dev


def entity_spans(sent: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(type, surface) for each IOB2 entity in a sentence."""
    spans: list[tuple[str, str]] = []
    cur_type, cur_toks = None, []
    for tok, tag in sent + [("", "O")]:
        if tag.startswith("I-") and cur_type == tag[2:]:
            cur_toks.append(tok)
            continue
        if cur_type is not None:
            spans.append((cur_type, " ".join(cur_toks)))
            cur_type, cur_toks = None, []
        if tag.startswith("B-"):
            cur_type, cur_toks = tag[2:], [tok]
    return spans


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _conll(sents: list[list[tuple[str, str]]]) -> str:
    return "".join("".join(f"{t}\t{g}\n" for t, g in s) + "\n" for s in sents)


def _readme(
    it_train: list[dict], it_dev: list[dict],
    ner_train: list[list[tuple[str, str]]], ner_dev: list[list[tuple[str, str]]],
) -> str:
    ctr, cdv = Counter(r["label"] for r in it_train), Counter(r["label"] for r in it_dev)
    intent_rows = "\n".join(
        f"| {label} | {ctr[label]} | {cdv[label]} |" for label in INTENT_TEMPLATES
    )
    sp_tr = [s for sent in ner_train for s in entity_spans(sent)]
    sp_dv = [s for sent in ner_dev for s in entity_spans(sent)]
    etr, edv = Counter(t for t, _ in sp_tr), Counter(t for t, _ in sp_dv)
    train_strings = {s for s in sp_tr}
    dev_unique = sorted(set(sp_dv))
    unseen_unique = [s for s in dev_unique if s not in train_strings]
    unseen_mentions = sum(1 for s in sp_dv if s not in train_strings)
    ner_rows = "\n".join(f"| {t} | {etr[t]} | {edv[t]} |" for t in NER_TYPES)
    tok_tr = sum(len(s) for s in ner_train)
    tok_dv = sum(len(s) for s in ner_dev)
    return f"""# whet demo data

Two small datasets used by `make demo` and by the tests. Both are **synthetic**:
they were generated from sentence templates and word lists written for whet
(see `scripts/make_demo_data.py`), not taken from any existing corpus. All
organisation and product names are invented. They are released under the
project's license, Apache-2.0.

They are small on purpose, so a small pretrained encoder (e.g. all-MiniLM-L6-v2)
can be fine-tuned on them in a few minutes on a CPU.

A third set, `instructions/` (prompt/response pairs for fine-tuning a causal language
model), is built from the intents by `scripts/make_demo_instructions.py` and described in
[instructions/README.md](instructions/README.md).

## `intents/` - customer-service intent classification

`train.jsonl` and `dev.jsonl`, one JSON object per line:

```json
{json.dumps(it_train[0], ensure_ascii=False)}
```

{len(INTENT_TEMPLATES)} intents of a bank's customer-service assistant. Sentences come from
15-20 templates per intent with slot fillers (amounts, names, cities, account and
card types), politeness prefixes and suffixes, some chat-style lower-casing and a
few typos. Some intents share vocabulary on purpose (e.g. `lost_card` and
`report_fraud` both talk about cards; "Transfer me to customer service" is
`talk_to_agent`). No text occurs in both splits, and no dev sentence is just a
re-decorated copy of a train sentence.

| label | train | dev |
|---|---:|---:|
{intent_rows}
| **total** | **{len(it_train)}** | **{len(it_dev)}** |

## `ner/` - named-entity recognition

`train.conll` and `dev.conll` in CoNLL format: one `token<TAB>tag` pair per line,
a blank line after each sentence, IOB2 tags, punctuation as separate tokens.
Entity types: PER, ORG, LOC, PRODUCT. Customer-support and business-news style
sentences, 4-20 tokens each, from {len(NER_TEMPLATES)} templates:

```
{_conll(ner_train[:1]).rstrip()}
```

| | train | dev |
|---|---:|---:|
| sentences | {len(ner_train)} | {len(ner_dev)} |
| tokens | {tok_tr} | {tok_dv} |

Entity mentions per type:

| type | train | dev |
|---|---:|---:|
{ner_rows}
| **total** | **{len(sp_tr)}** | **{len(sp_dv)}** |

Dev draws partly from name lists never used in train, so it measures
generalisation to new entities: {len(unseen_unique)} of the {len(dev_unique)} distinct dev
entity strings ({100 * len(unseen_unique) / len(dev_unique):.0f}%) and {unseen_mentions} of the {len(sp_dv)} dev mentions
({100 * unseen_mentions / len(sp_dv):.0f}%) do not occur in train. No sentence occurs twice.

## `qa/` and `multiple-choice/`

Synthetic question-answering (SQuAD v2.0 style) and multiple-choice sets, generated by
`scripts/make_qa_demo_data.py` and described in [qa/README.md](qa/README.md) and
[multiple-choice/README.md](multiple-choice/README.md).

## Regenerating

```
python scripts/make_demo_data.py
```

The script uses only the standard library and a fixed seed ({SEED}), so it
rewrites byte-identical files, this README included.
"""


def main() -> None:
    it_train, it_dev = make_intents(random.Random(SEED))
    ner_train, ner_dev = make_ner(random.Random(SEED + 1))
    _write(DEMO / "intents" / "train.jsonl", _jsonl(it_train))
    _write(DEMO / "intents" / "dev.jsonl", _jsonl(it_dev))
    _write(DEMO / "ner" / "train.conll", _conll(ner_train))
    _write(DEMO / "ner" / "dev.conll", _conll(ner_dev))
    _write(DEMO / "README.md", _readme(it_train, it_dev, ner_train, ner_dev))
    print(
        f"intents: {len(it_train)} train / {len(it_dev)} dev; "
        f"ner: {len(ner_train)} train / {len(ner_dev)} dev sentences -> {DEMO}"
    )


if __name__ == "__main__":
    main()
