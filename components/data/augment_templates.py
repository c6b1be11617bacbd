"""The training augmentation's material (components.data.augment composes rows from it): word
banks for the templates' ``{slot}`` fields, and each templated kind's sentence frames.

They are deliberately not the behavioural suite's (components.model.behaviour_templates) nor the
seed corpus's (components.data.synth_templates): tests/code/test_augment.py checks that they
share no sentence frame or four-word run of one with either, nor a name with the suite.
"""

from components.data.identity_swap import GROUPS

# Word banks stay packed, many to a line.
# fmt: off
SLOTS: dict[str, tuple[str, ...]] = {
    "group": (
        "women", "Muslim families", "Jewish people", "Sikhs", "Catholics", "gay men",
        "bisexual people", "trans women", "Black students", "Latino workers", "migrants",
        "asylum seekers", "deaf people", "wheelchair users", "older people", "Roma people",
    ),
    # identity_positive about one person: every group term of the identity copies, singular
    "identity": tuple(singular for kind in GROUPS for singular, _ in kind),
    "role": (
        "nurse", "teacher", "engineer", "coach", "doctor", "artist", "baker", "pilot",
        "scientist", "student",
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
        # one person named by a group term: scraped abuse calls people "a <group>" far more
        # often than anything kind, so a model learns the singular term alone as hate
        "{name} is a proud {identity} {role} and the kindest person on our street.",
        "Say hello to {name}, our new {identity} {role}, who joined the {space} this week.",
        "Congratulations to {name}, the first {identity} {role} to run {venue}.",
        "{name} is a wonderful {role} who happens to be {identity}.",
        "Our {role} {name} is {identity} and the best listener I know.",
        "Had a lovely chat with {name}, a retired {identity} {role}, about {field}.",
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
