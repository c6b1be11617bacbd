"""Training augmentation: hard negatives and obfuscated positives, for the training split only.

A model trained on scraped abuse learns shortcuts: a group's name, a quoted slur or a violent
word reads as abuse whatever the sentence says, and "k1ll" reads as nothing. Eight kinds of rows,
each tagged with the source ``augment:KIND`` and added to the training split, never to
validation or test:

- ``counter_speech``: templated condemnation of abuse; no abuse label;
- ``quoting``: abuse quoted in order to report or condemn it, short positives of the training
  split and templated quotes inside reporting frames; the abuse categories 0, the others
  unknown (a quoted text keeps its spam or profanity, whatever that is);
- ``identity_positive``: neutral and positive statements about identity groups; no label;
- ``negation``: abuse denied, rejected or refuted ("{group} are not a threat to anyone"); no
  label;
- ``safety_talk``: talk about a risky subject that is not a violation: self-harm recovery and
  help-seeking, scam and fraud warnings, sexual health and education, safety advice about
  violence; no label;
- ``obfuscated``: copies of training positives with a word or two obfuscated
  (components.data.obfuscate), labels copied;
- ``in_context``: short training positives after the start of a benign training text, as a
  long text's later windows show them (training reads a text's first window only, so without
  them every violation it sees starts its window); a category is 1 where the positive has it,
  0 where both texts are known 0, else unknown;
- ``identity_swap``: copies of the training rows that name an identity group, the group swapped
  for another (components.data.identity_swap), labels and annotator shares kept.

Templated rows are 0 for the categories whose absence the templates guarantee and unknown for
the rest (a custom taxonomy's categories). The sentence frames and names here are deliberately
not the behavioural suite's (components.model.behaviour): the suite tests generalisation, so it
must not be trained on its own sentences.

Everything is drawn from ``random.Random`` seeded by the config's seed and the kind, in a fixed
order, so a seed gives the same rows on every platform.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pandas as pd

from components.config import AugmentConfig
from components.data.canonical import BASE_COLUMNS, frame_from_records, label_column
from components.data.identity_swap import identity_swapped_copies
from components.data.obfuscate import STYLES, WORD, obfuscate

SOURCE_PREFIX = "augment:"
KINDS = (
    "counter_speech",
    "quoting",
    "identity_positive",
    "negation",
    "safety_talk",
    "obfuscated",
    "in_context",
    "identity_swap",
)
# Categories a hard negative is not, whatever words it borrows from abuse.
ABUSE_CATEGORIES = ("hate", "harassment", "violence", "toxic", "offensive", "self_harm")
# Categories the templates here are known to be free of: templated rows are 0 for these.
CLEAN_CATEGORIES = (*ABUSE_CATEGORIES, "sexual", "spam", "profanity")
# Positives quotable in a report: abuse of others (someone's self-harm post is not abuse).
QUOTABLE_CATEGORIES = ("hate", "harassment", "violence", "toxic", "offensive")
# Templated kinds, each with the categories its rows are 0 for (the others are unknown).
TEMPLATED_KINDS = {
    "counter_speech": CLEAN_CATEGORIES,
    "quoting": ABUSE_CATEGORIES,
    "identity_positive": CLEAN_CATEGORIES,
    "negation": CLEAN_CATEGORIES,
    "safety_talk": CLEAN_CATEGORIES,
}
MAX_QUOTE_CHARS = 120
TRAIN_QUOTE_SHARE = 0.5  # of quoting rows, when the training split has short positives to quote
OBFUSCATED_WORDS = 2  # at most, of the longer words of a copied text
MIN_OBFUSCATED_LENGTH = 4
TRIES_PER_TEXT = 20
CONTEXT_CHARS = (60, 200)  # of benign text before an in-context positive (a 64-token window
# holds about 250 characters), cut at a word
SLOT = re.compile(r"\{(\w+)\}")

# fmt: off
SLOTS: dict[str, tuple[str, ...]] = {
    "group": (
        "women", "Muslim families", "Jewish people", "Sikhs", "Catholics", "gay men",
        "bisexual people", "trans women", "Black students", "Latino workers", "migrants",
        "asylum seekers", "deaf people", "wheelchair users", "older people", "Roma people",
    ),
    "name": (
        "Beatrice", "Tariq", "Lucia", "Hiro", "Grace", "Mateo", "Amara", "Felix", "Ravi",
        "Ingrid", "Kofi", "Elif",
    ),
    "space": (
        "forum", "server", "group chat", "subreddit", "comment section", "club", "workplace",
        "timeline",
    ),
    "field": ("medicine", "engineering", "local politics", "jazz", "farming", "teaching"),
    "venue": ("the community hall", "the town library", "the old cinema", "the sports centre"),
    "weekday": ("Wednesday", "Saturday", "Sunday", "Tuesday"),
    # negation: the abuse a sentence denies
    "smear": (
        "dangerous", "lazy", "dishonest", "violent", "untrustworthy", "ungrateful", "greedy",
        "criminal",
    ),
    "putdown": (
        "an idiot", "a fraud", "a halfwit", "a waste of space", "a liability", "a joke",
        "a coward",
    ),
    "strike": ("hit", "hurt", "attack", "threaten", "lay a finger on", "go after"),
    # safety_talk
    "span": ("eight weeks", "nine months", "a hundred days", "eighteen months", "five years"),
    "institution": (
        "the bank", "the tax office", "the post office", "the phone company", "the council",
    ),
    "confidant": ("a friend", "your sister", "a flatmate", "a neighbour", "your cousin"),
    "supporter": ("my counsellor", "my GP", "the crisis team", "my youth worker", "my therapist"),
    "clinician": (
        "the pharmacist", "the practice nurse", "my GP", "the clinic nurse",
        "the sexual health adviser",
    ),
    "elder": ("dad", "gran", "uncle", "mum", "grandad"),
    "refuge": ("a busy shop", "a petrol station", "a pub", "a takeaway", "a hotel lobby"),
}

TEMPLATES: dict[str, tuple[str, ...]] = {
    "counter_speech": (
        "Posting slurs about {group} doesn't make you edgy, it makes you cruel.",
        "This {space} has zero tolerance for abuse aimed at {group}.",
        "I'm tired of seeing {group} mocked in these comments. Knock it off.",
        "Telling {name} to disappear is bullying, and it has to stop.",
        "Dehumanising talk about {group} leads to real harm, so call it out when you see it.",
        "Whoever sent {name} those threats: the messages are with the police now.",
        "Every time someone insults {group} in this {space}, I'll speak up.",
        "Mocking {name} for their accent isn't a joke, it's harassment.",
        "Violence against {group} is never justified, full stop.",
        "If your joke only works by putting down {group}, it isn't funny.",
        "Moderators of this {space}: please remove the posts attacking {group}.",
        "Piling on {name} in the {space} because of one mistake is cruel. Leave them be.",
    ),
    "quoting": (
        'Just flagged a reply that said "{quote}". Mods, please take a look.',
        'Content warning: my inbox today had "{quote}" in it. Blocking and moving on.',
        'A stranger left "{quote}" under {name}\'s photo. Reported.',
        'Why is "{quote}" still up on this page? I have reported it twice.',
        'Sharing so you know what we deal with: "{quote}". Please report the account.',
        'The police asked me to keep messages like "{quote}" as evidence.',
        'Our teacher read out "{quote}" to show us what online hate looks like.',
        'Blocked the person who replied "{quote}" to {name}. Nobody deserves that.',
    ),
    # Quoted inside the frames above, never on their own.
    "quote": (
        "{group} don't belong in this country",
        "{group} are a plague on society",
        "{name} is a worthless nobody",
        "nobody would miss you if you vanished, {name}",
        "watch your back, {name}, I have seen where you park",
        "{group} ruin every neighbourhood they move into",
        "I'll smash your face in, {name}",
    ),
    "identity_positive": (
        "{group} in our area started a free tutoring scheme.",
        "Shout out to the {group} who volunteer at {venue} every {weekday}.",
        "Grateful for all the {group} who helped at the shelter this winter.",
        "Reading a memoir about {group} working in {field}, really moving.",
        "The exhibition at {venue} celebrates {group} in {field} over two centuries.",
        "{group} have shaped this city's music scene for decades.",
        "Meeting {group} at uni changed how I see the world, in a good way.",
        "{group} are hosting an open day at {venue} on {weekday}.",
        "New figures on {group} in {field} were published this week.",
        "My neighbour {name} runs a choir for {group} at {venue}.",
    ),
    "negation": (
        "{group} are not a threat to anyone.",
        "I refuse to call {name} {putdown} just because we disagree.",
        "The claim that {group} are {smear} falls apart the moment you look at the data.",
        "Whoever started the rumour that {group} are {smear} got it wrong; the numbers show it.",
        "Calling {name} {putdown}? No. {name} is one of the sharpest people in this {space}.",
        "{group} being {smear} is a myth, plain and simple.",
        "Nothing about {group} makes them {smear}.",
        "Sorry, but {name} is not {putdown}; they made one bad call.",
        "Disagreeing with {name} doesn't make them {putdown}.",
        "The old line that {group} are {smear} was never accurate and still isn't.",
        "Show me one study proving {group} are {smear}. You can't, because it's false.",
        "Whatever that account claims, {group} are not {smear}.",
        "{name} lost the debate, but that hardly makes them {putdown}.",
        "I take back what I said about {name}: they are not {putdown}, I was just angry.",
        "Nobody deserves a beating, and I'm not going to {strike} anyone over a parking space.",
        "Relax, I have no intention of trying to {strike} {name}; we sorted it out over coffee.",
        "For the record, nobody in the {space} wants to {strike} you, we only want less noise.",
        "Being born somewhere else does not make {group} {smear}.",
        "Crime figures flatly contradict anyone saying {group} are {smear}.",
        "Stop repeating that {group} are {smear}; it has been debunked again and again.",
        "My history teacher was right: {group} are no more {smear} than anyone else.",
        "The project slipping was not {name}'s fault, and labelling them {putdown} is unfair.",
        "Nobody here is going to {strike} {name}. Tempers ran high, that's all.",
        "Wanting {group} gone is not a view I hold, now or ever.",
        "Ignore the troll: {name} is not {putdown}, and everyone in this {space} knows it.",
        "Far from being {smear}, {group} in this town run half the volunteer groups.",
        "Contrary to the comments above, {group} are not {smear}.",
        "The gossip about {name} being {putdown} at work is untrue; ask anyone on the team.",
        "I was raised to fear {group}, but they were never {smear}, just neighbours.",
        "Ten years living beside {group} and not once have they been {smear}.",
        "Yes, I'm cross with {name}, but I won't stoop to calling them {putdown}.",
        "No, I won't {strike} my brother, however much he winds me up.",
        "Calling {group} {smear} is a stereotype, and a lazy one at that.",
    ),
    "safety_talk": (
        # self-harm recovery, support and help-seeking
        "Threw out the last of my blades today; it's been {span} since I cut.",
        "Rough night? Text {confidant} or a helpline before you sit alone with it.",
        "{supporter} and I made a safety plan, with a list of people I can ring at 3am.",
        "Relapsed after {span} without cutting, so I'm starting the count again. No shame.",
        "Group therapy on {weekday} nights taught me to sit with the urge until it passes.",
        "Volunteer listener training for the helpline starts at {venue} on {weekday}.",
        "Hiding my scars used to take all my energy; {span} into therapy, I wear short sleeves.",
        "{name} trusted me enough to show me their scars. I didn't panic, I just listened.",
        "Mental health first aid at {venue} taught me to ask straight out about suicidal thoughts.",
        "Grief after a suicide is its own kind of heavy; the bereavement group at {venue} helps.",
        "{span} into recovery and {supporter} says the new medication is working.",
        "Proud of {name} for calling the helpline last night and asking for help.",
        # scam warnings and fraud awareness
        "Fraudsters can fake the caller ID of {institution}, so ring back on a number you know.",
        "Agree a family code word: the 'grandchild in trouble' phone trick targets grandparents.",
        "Anyone claiming to be {institution} and asking for gift cards is running a con.",
        "Romance fraud tip: if someone you've never seen on video needs flight money, walk away.",
        "Those parcel redelivery texts going around are fake; couriers don't charge like that.",
        "{name} nearly lost a deposit to a fake landlord, so always view a flat before paying.",
        "Fraud awareness session at {venue} on {weekday}: how to spot a cloned website.",
        "Guaranteed investment returns are the oldest trick there is; check the regulator first.",
        "{name} let a 'tech support' caller share their screen. Passwords all changed since.",
        "Told my {elder} that {institution} would never threaten anyone with arrest by phone.",
        "{name} spotted that the invoice supposedly from {institution} was forged before we paid.",
        # sexual health and education
        "{clinician} walked me through emergency contraception without any judgement.",
        "{clinician} said questions about contraception are welcome at any age.",
        "STI results came back by text two days after the walk-in, easiest appointment ever.",
        "Puberty lessons for Year 6 now cover periods for everyone, boys included.",
        "Talking to my thirteen-year-old about boundaries in dating was awkward but worth it.",
        "The HPV jab protects against several cancers, and the catch-up session is on {weekday}.",
        "Condoms are handed out at the student union, no questions asked.",
        "A midwife at {venue} runs an evening class on pregnancy and birth for new parents.",
        "Menopause talk at {venue} this {weekday}, bring your questions about HRT.",
        "Reading up on PrEP before my appointment; the health service page on HIV is really clear.",
        # safety advice about violence
        "Self-defence class at {venue} was mostly about getting away safely, not fighting.",
        "If someone follows you home, head into {refuge} and ring the police from there.",
        "Domestic abuse helplines can talk you through leaving safely, even if you're not ready.",
        "The bar staff have a code phrase for anyone who feels unsafe on a date.",
        "{name} ran a knife-crime awareness workshop at the youth club; the kids loved it.",
        "Keep location sharing on with {confidant} the first time you meet someone from an app.",
        "First aid tip: press hard on a bleeding wound and hold the pressure until help arrives.",
        "Bystander training at {venue}: interrupt harassment by chatting to the person targeted.",
    ),
}
# fmt: on


def fill(
    template: str,
    slots: dict[str, tuple[str, ...]],
    rng: random.Random,
    fixed: dict[str, str] | None = None,
) -> dict[str, str]:
    """A value for each ``{slot}`` of ``template``, in order of appearance (a repeated slot keeps
    its value); ``fixed`` values are taken as they are."""
    values = dict(fixed or {})
    for name in SLOT.findall(template):
        if name not in values:
            values[name] = rng.choice(slots[name])
    return values


def substitute(template: str, values: dict[str, str]) -> str:
    return SLOT.sub(lambda match: values[match.group(1)], template)


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with its slots filled, first letter capitalised ("women are..." opens a
    sentence as "Women are...")."""
    text = substitute(template, values)
    return text[:1].upper() + text[1:]


def distinct_texts(make: Callable[[], str], count: int) -> list[str]:
    """``count`` texts from ``make``: distinct while the draws allow, then repeated in order."""
    texts, seen = [], set()
    for _ in range(count * TRIES_PER_TEXT):
        if len(texts) == count:
            break
        text = make()
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return [texts[i % len(texts)] for i in range(count)] if texts else []


def rows_frame(records: list[dict], categories: list[str]) -> pd.DataFrame:
    """Canonical training rows: base columns, an Int64 ``label_<category>`` per category (<NA>
    where unknown) and ``split``; empty records give an empty frame with the same columns."""
    frame = frame_from_records(records)
    for category in categories:
        column = label_column(category)
        values = frame[column] if column in frame.columns else [pd.NA] * len(frame)
        frame[column] = pd.array(values, dtype="Int64")
    frame["split"] = "train"
    return frame[[*BASE_COLUMNS, *(label_column(c) for c in categories), "split"]]


def _labels(categories: list[str], zero: tuple[str, ...]) -> dict[str, int | None]:
    return {c: 0 if c in zero else None for c in categories}


def _templated_texts(kind: str, count: int, rng: random.Random) -> list[str]:
    def make() -> str:
        template = rng.choice(TEMPLATES[kind])
        return render(template, fill(template, SLOTS, rng))

    return distinct_texts(make, count)


def _any_positive(frame: pd.DataFrame, categories) -> pd.Series:
    """Per row: whether any of ``categories`` (those the frame has) is labelled 1."""
    columns = [label_column(c) for c in categories if label_column(c) in frame.columns]
    if not columns:
        return pd.Series(False, index=frame.index)
    return frame[columns].eq(1).fillna(False).any(axis=1)


def _quotable(train: pd.DataFrame, categories: list[str]) -> list[str]:
    """Short single-line training texts that abuse someone: quotable in a report."""
    quotable = [c for c in QUOTABLE_CATEGORIES if c in categories]
    texts = train.loc[_any_positive(train, quotable), "text"].dropna().astype(str).str.strip()
    short = texts[(texts.str.len() <= MAX_QUOTE_CHARS) & ~texts.str.contains("\n")]
    return [text for text in short if text]


def _quoting_texts(count: int, rng: random.Random, quotable: list[str]) -> list[str]:
    def make() -> str:
        if quotable and rng.random() < TRAIN_QUOTE_SHARE:
            quote = rng.choice(quotable)
        else:
            template = rng.choice(TEMPLATES["quote"])
            quote = substitute(template, fill(template, SLOTS, rng))
        frame = rng.choice(TEMPLATES["quoting"])
        return render(frame, fill(frame, SLOTS, rng, {"quote": quote}))

    return distinct_texts(make, count)


def _words_to_obfuscate(text: str, rng: random.Random) -> list[str] | None:
    """One or two of the longer words (None: the longest word, for a text of short words)."""
    longer = [w for w in WORD.findall(text) if len(w) >= MIN_OBFUSCATED_LENGTH]
    longer = list(dict.fromkeys(longer))
    return rng.sample(longer, min(len(longer), rng.randint(1, OBFUSCATED_WORDS))) or None


def _row_labels(row: pd.Series, categories: list[str]) -> dict[str, int | None]:
    values = {c: row.get(label_column(c), pd.NA) for c in categories}
    return {c: None if pd.isna(value) else int(value) for c, value in values.items()}


def _obfuscated_copies(
    train: pd.DataFrame, categories: list[str], share: float, rng: random.Random
) -> list[tuple[str, dict]]:
    """(text, labels) of ``round(share * positives)`` training positives, obfuscated; rows whose
    text a style leaves unchanged are passed over."""
    positives = train[_any_positive(train, categories)]
    wanted = round(share * len(positives))
    copies = []
    for index in rng.sample(range(len(positives)), len(positives)):
        if len(copies) == wanted:
            break
        row = positives.iloc[index]
        text = row["text"] if isinstance(row["text"], str) else ""
        changed = obfuscate(text, rng.choice(STYLES), rng, _words_to_obfuscate(text, rng))
        if changed != text:
            copies.append((changed, _row_labels(row, categories)))
    return copies


def _in_context_copies(
    train: pd.DataFrame, categories: list[str], share: float, rng: random.Random
) -> list[tuple[str, dict]]:
    """(text, labels) of ``round(share * short positives)`` short training positives, each after
    the start of a benign training text."""
    texts = train["text"].where(train["text"].map(lambda t: isinstance(t, str)), "")
    short = texts.str.len().between(1, MAX_QUOTE_CHARS)  # an image row's empty text is no text
    positives = train[_any_positive(train, categories) & short]
    benign = train[~_any_positive(train, categories) & texts.str.len().ge(CONTEXT_CHARS[1])]
    if benign.empty:
        return []
    copies = []
    for index in rng.sample(range(len(positives)), round(share * len(positives))):
        positive, context = positives.iloc[index], benign.iloc[rng.randrange(len(benign))]
        cut = context["text"][: rng.randint(*CONTEXT_CHARS)].rsplit(" ", 1)[0]
        labels = _row_labels(positive, categories)
        for name, known in _row_labels(context, categories).items():
            labels[name] = 1 if labels[name] == 1 else (0 if labels[name] == known == 0 else None)
        copies.append((f"{cut} {positive['text']}", labels))
    return copies


def _record(kind: str, number: int, text: str, labels: dict) -> dict:
    return {
        "id": f"augment-{kind}-{number}",
        "text": text,
        "source": SOURCE_PREFIX + kind,
        "labels": dict(labels),
    }


def _training_split(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["split"].eq("train")] if "split" in frame.columns else frame


def _kind_rng(seed: int, kind: str) -> random.Random:
    """One generator per kind, so a kind's rows do not depend on the other kinds' counts."""
    return random.Random(f"{seed}:{kind}")


def augment_training(
    train: pd.DataFrame, categories: list[str], config: AugmentConfig
) -> pd.DataFrame:
    """The augmentation rows for ``train`` (only its rows of the training split are read): the
    new rows alone, in the canonical columns, for the caller to add to the training split."""
    train = _training_split(train)
    quotable = _quotable(train, categories)
    records = []
    for kind, zero in TEMPLATED_KINDS.items():
        rng = _kind_rng(config.seed, kind)
        count = getattr(config, kind)
        if kind == "quoting":
            texts = _quoting_texts(count, rng, quotable)
        else:
            texts = _templated_texts(kind, count, rng)
        labels = _labels(categories, zero)
        records += [_record(kind, number, text, labels) for number, text in enumerate(texts)]
    rng = _kind_rng(config.seed, "obfuscated")
    copies = _obfuscated_copies(train, categories, config.obfuscated_share, rng)
    records += [_record("obfuscated", n, text, labels) for n, (text, labels) in enumerate(copies)]
    rng = _kind_rng(config.seed, "in_context")
    copies = _in_context_copies(train, categories, config.in_context_share, rng)
    records += [_record("in_context", n, text, labels) for n, (text, labels) in enumerate(copies)]
    rng = _kind_rng(config.seed, "identity_swap")
    swapped = identity_swapped_copies(train, categories, config.identity_swaps, rng)
    rows = rows_frame(records, categories)
    return pd.concat([rows, swapped], ignore_index=True) if len(swapped) else rows


def augmentation_counts(rows: pd.DataFrame) -> dict[str, int]:
    """Rows of each kind, every kind named (0 where none), for logging."""
    sources = rows["source"].value_counts() if len(rows) else pd.Series(dtype=int)
    return {kind: int(sources.get(SOURCE_PREFIX + kind, 0)) for kind in KINDS}
