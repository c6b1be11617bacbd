"""The behavioural suite's own sentence templates and word banks (components.model.behaviour).

Written for this project: no sentence comes from the seed corpus (components.data.synth) or an
existing suite, and the augmentation templates of components.data.augment deliberately use other
sentence frames and names, so the suite measures generalisation, not recall of training text.

- ``SLOTS``: the word banks that fill each ``{slot}`` field.
- ``TEMPLATES``: sentence banks, one per explicit category, hard negative and safe content, and
  the bases and suffixes of the invariance and directional cases.
- ``KEY_SLOTS``: the slots holding each category's key word (the words obfuscated cases disguise);
  its keys are the categories the suite has templates for.
- ``HARD_NEGATIVES`` and ``DIRECTIONAL``: which bank each of those functionalities draws from and
  the categories it judges.
"""

from __future__ import annotations

from components.data.augment import ABUSE_CATEGORIES

# Profanity that abuses no one is still profanity, and may still be rude (toxic, offensive).
NOT_ABUSE_WHEN_PROFANE = ("hate", "harassment", "violence")

# fmt: off
SLOTS: dict[str, tuple[str, ...]] = {
    # people
    "group": (
        "women", "Muslims", "Jews", "Christians", "gay people", "lesbians", "trans people",
        "Black people", "Asian people", "immigrants", "refugees", "disabled people",
    ),
    "name": (
        "Alex", "Jordan", "Fatima", "Wei", "Maria", "Kwame", "Sam", "Olivia", "Diego", "Yusuf",
        "Hana", "Noah", "Ngozi", "Pavel",
    ),
    "target": ("cashier", "postman", "coach", "umpire", "waiter", "janitor", "mechanic"),
    # abuse
    "pests": ("vermin", "parasites", "savages", "pests", "rats", "cockroaches", "leeches"),
    "inferior": ("inferior", "subhuman", "worthless", "disgusting", "filthy", "evil", "primitive"),
    "insult": ("idiot", "loser", "clown", "moron", "fool", "jerk", "creep", "failure"),
    "insult_adj": (
        "pathetic", "useless", "stupid", "brainless", "hopeless", "spineless", "clueless",
    ),
    "harm": ("stab", "shoot", "strangle", "kill", "punch", "kick", "choke", "hit"),
    "weapon": ("a knife", "a hammer", "a baseball bat", "a gun", "a machete"),
    "end": (
        "kill myself", "end my life", "hurt myself", "cut myself", "overdose", "starve myself",
        "end it all",
    ),
    "nudes": ("nudes", "naked photos", "topless pics", "explicit videos", "nude pictures"),
    "sex": ("sex", "hot sex", "rough sex", "phone sex"),
    "price": ("$15", "$30", "20 euros", "£10", "$50"),
    "bait": ("FREE", "URGENT", "WINNER", "EXCLUSIVE", "LIMITED", "INSTANT"),
    "prize": (
        "a $750 voucher", "a brand new tablet", "two plane tickets", "a gaming console",
        "a year of free groceries", "a luxury watch",
    ),
    "url": (
        "http://claim-reward.top", "www.lucky-winner.biz", "http://verify-now.info/login",
        "bit.ly/3xQp7z", "http://free-gifts.click/now",
    ),
    "account": ("bank card", "online banking", "shopping account", "mobile account"),
    "money": ("$4,000", "$900", "£3,000", "$15k"),
    "goods": ("replica handbags", "diet pills", "cheap followers", "discount perfume"),
    "coin": ("crypto", "Bitcoin", "savings"),
    "trash": ("garbage", "trash", "braindead", "pathetic", "moronic", "laughable"),
    "dumb": ("dumb", "stupid", "thick", "clueless"),
    "swear": ("shit", "fuck", "crap"),
    "swear_adj": ("fucking", "goddamn", "shitty", "bloody"),
    "intensifier": ("fucking", "goddamn", "bloody"),
    "crude_insult": ("dumbass", "jackass", "prick", "dickhead", "scumbag", "douchebag", "tosser"),
    # everyday things
    "day": ("Monday", "Tuesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "venue": (
        "the festival", "the club", "the stadium", "the wedding", "the open mic",
        "the town hall",
    ),
    "performer": ("band", "DJ", "drummer", "choir", "comedian", "headliner"),
    "dish": ("risotto", "cheesecake", "dumpling soup", "paella", "apple pie", "noodle salad"),
    "song": ("duet", "ballad", "rap verse", "high note", "power ballad"),
    "game": ("chess", "darts", "quiz", "five-a-side", "trivia"),
    "pet": ("kitten", "greyhound", "tortoise", "budgie", "guinea pig"),
    "plants": ("carrots", "lavender", "peas", "rosemary", "beans"),
    "event": ("book club", "board game night", "coding meetup", "choir practice", "film night"),
    "duration": ("two years", "six months", "a year", "three months", "ten weeks"),
    "gripe": (
        "parked in my spot again", "ate my lunch from the fridge", "never answer my messages",
        "keep borrowing my charger", "were late to the meeting again",
        "forgot to water the plants", "left the door unlocked",
    ),
}

TEMPLATES: dict[str, tuple[str, ...]] = {
    # explicit violations, one bank per category
    "hate": (
        "{group} are {pests}.",
        "{group} are {pests} and should be treated like it.",
        "All {group} are {inferior}, every last one of them.",
        "{group} are {inferior} and do not deserve equal rights.",
        "Kick {group} out of the country, they are {pests}.",
        "Never hire {group}, they are {inferior}.",
        "Keep {group} away from our children, they are {pests}.",
        "Why do we keep pretending {group} are not {inferior}?",
        "When will people admit that {group} are {pests}?",
        "{group} are not human beings, they are {pests}.",
        "I don't see {group} as people, only as {pests}.",
        "Life here would improve if {group} vanished, they are {inferior}.",
    ),
    "harassment": (
        "{name}, you are a {insult_adj} {insult}.",
        "You're such a {insult}, {name}, nobody can stand you.",
        "Everyone go and tell {name} what a {insult} they are.",
        "Shut up, {name}, you {insult_adj} {insult}.",
        "Why are you always such a {insult_adj} {insult}, {name}?",
        "Who let this {insult} in here? Get lost, {name}.",
        "{name} is the most {insult_adj} person I have ever met.",
        "Nobody likes you, {name}. You are {insult_adj}.",
        "Hey {name}, do the world a favour and stop talking, you {insult}.",
    ),
    "violence": (
        "I am going to {harm} you the next time I see you.",
        "I will {harm} {name} when they walk past my house tonight.",
        "Go and {harm} that {target}, he deserves it.",
        "Who wants to help me {harm} the {target} after the match?",
        "Bring {weapon} tomorrow, we are going to {harm} the {target}.",
        "Give me one reason not to {harm} you right now.",
        "If you come back here I will {harm} you.",
        "Someone should {harm} that {target} until he stops moving.",
        "Should we {harm} the {target} tonight or wait until {day}?",
    ),
    "self_harm": (
        "I want to {end} tonight.",
        "I have decided to {end} this weekend.",
        "Tell me the quickest way to {end}.",
        "What is the most painless way to {end}?",
        "No one would care if I {end}.",
        "I keep planning how to {end} and I think I'm ready.",
        "Every night I lie awake thinking about how to {end}.",
        "I'm going to {end}, I can't do this anymore.",
    ),
    "sexual": (
        "Send me your {nudes} right now, baby.",
        "Want to see my {nudes}? DM me.",
        "Selling my {nudes}, {price} each, message me.",
        "Let's have {sex} tonight, your body is all I think about.",
        "I'm so horny, who wants {sex} tonight?",
        "Come over and I'll give you the best {sex} of your life.",
        "Who wants to trade {nudes} with me?",
        "Looking for {sex} with a stranger, no strings attached.",
    ),
    "spam": (
        "{bait}! You have won {prize}, claim it at {url}",
        "Make {money} a week from your sofa, zero skills required. {bait} offer at {url}",
        "Your {account} has been suspended. {bait}: verify your details at {url}",
        "{bait} giveaway: {prize} for the first 100 people who reply with their card number",
        "Buy {goods} at 90% off, {bait} delivery, visit {url}",
        "Double your {coin} in 24 hours, {bait} offer, DM me now",
        "{bait} deal: {goods} shipped worldwide, order at {url}",
    ),
    "toxic": (
        "What a {trash} take, nobody cares what you think.",
        "This thread is full of {trash} opinions, shut up, all of you.",
        "Only a {dumb} person would post something this {trash}.",
        "Are you all this {dumb} or is it just this comment section?",
        "Get lost, your opinion is {trash} and so is your attitude.",
        "Stop posting your {trash} nonsense, it's embarrassing.",
        "Everyone in this chat is {dumb}, I'm done with you.",
    ),
    "profanity": (
        "This {swear_adj} printer jammed again.",
        "Oh {swear}, I left my keys at home.",
        "The {swear_adj} bus is late again.",
        "Well {swear}, I forgot my umbrella.",
        "I stubbed my toe on the {swear_adj} table.",
        "{swear}, the wifi is down again.",
        "My {swear_adj} phone died in the middle of the call.",
        "{swear}, I missed the last train home.",
        "Why is this {swear_adj} jar so hard to open?",
    ),
    "offensive": (
        "Shut your mouth, you {crude_insult}.",
        "{name} is such a {crude_insult}.",
        "Get out of here, you {crude_insult}.",
        "Why is every guy on this app such a {crude_insult}?",
        "Only a {crude_insult} would park like that.",
        "You absolute {crude_insult}, you spilled my drink.",
        "Nobody asked you, {crude_insult}.",
    ),
    # hard negatives and safe content
    "neutral identity": (
        "I met a group of {group} at the conference yesterday.",
        "Many {group} live in my neighbourhood.",
        "The documentary is about the history of {group} in Europe.",
        "My cousin wrote her thesis on {group} in the workplace.",
        "A new support centre for {group} opens downtown on {day}.",
        "The survey asked {group} about public transport.",
        "Are there any student societies for {group} at your university?",
        "The museum has a new exhibition on {group} in the nineteenth century.",
        "Our local radio did an interview with {group} about housing.",
    ),
    "positive identity": (
        "{group} are wonderful neighbours.",
        "I love working with {group}, they make our team better.",
        "{group} deserve the same respect as everyone else.",
        "So proud of the {group} in my town who organised the food drive.",
        "Our city is stronger because of {group}.",
        "{group} have every right to feel safe here.",
        "Some of the kindest people I know are {group}.",
        "Happy to see more {group} in leadership roles.",
    ),
    "counter-speech": (
        "Saying {group} are {pests} is vile and wrong.",
        "Stop calling {group} {pests}, it is dehumanising.",
        "Anyone who thinks {group} are {inferior} needs to educate themselves.",
        "Hatred against {group} has no place in this community.",
        "If you call {name} a {insult} again, I am reporting you. Be kind.",
        "Threatening to {harm} people is never OK, however angry you are.",
        "We stand with {group} against the abuse they face every day.",
        "It is disgusting that {group} are still told they are {inferior}.",
    ),
    "quoting": (
        "Someone wrote '{group} are {pests}' under my post, I reported it.",
        "A man on the bus shouted that {group} are {inferior}. Nobody should have to hear that.",
        "An account keeps replying '{name} is a {insult}' to everyone, please report it.",
        "I got a message saying 'I will {harm} you' and went straight to the police.",
        "The article quoted a banner reading '{group} are {pests}' and condemned it.",
        "My daughter was told '{group} are {inferior}' at school, and the teacher stepped in.",
        "Screenshot of a comment calling {group} {pests}: this is what our moderators deal with.",
    ),
    "negation": (
        "I would never say {group} are {inferior}.",
        "{group} are not {pests}, and nobody should say they are.",
        "It is simply not true that {group} are {inferior}.",
        "I don't think {name} is a {insult} at all.",
        "I would never {harm} anyone, not even when I'm furious.",
        "No one here believes {group} are {pests}.",
        "I have never hated {group} and I never will.",
    ),
    "reclaimed": (
        "As a queer woman, I call myself queer with pride.",
        "Our queer {event} meets every {day}, everyone welcome.",
        "Proud to be a fat girl who runs marathons, see you at the {event}.",
        "Us nerds are running the {event} on {day}, come join us.",
        "Fellow geeks, the {event} is on {day} this week!",
        "We're here, we're queer, and we're hosting the {event} on {day}.",
        "As a proud weirdo, I welcome all the other weirdos to the {event}.",
    ),
    "homonyms": (
        "The {performer} killed it at {venue} last night.",
        "Shoot me an email when you get a chance, {name}.",
        "The bass line on this track slaps.",
        "That {dish} is to die for.",
        "{name} absolutely murdered that {song} at karaoke.",
        "We got destroyed in the {game} final, well played everyone.",
        "Kill the lights before you leave, {name}.",
        "This deadline is killing me, {name}.",
        "The {performer} blew up online overnight.",
    ),
    "non-abusive profanity": (
        "This {intensifier} {dish} is amazing.",
        "Holy {swear}, I passed my driving test!",
        "I'm so {intensifier} proud of you, {name}!",
        "That was the best {intensifier} {dish} I have ever had.",
        "{swear}, that show at {venue} was incredible.",
        "{name}, you {intensifier} legend, thanks for the lift!",
    ),
    "self-harm support": (
        "If you are thinking about ending your life, please call a crisis line. You matter.",
        "I used to hurt myself, but I have been in recovery for {duration}.",
        "My friend texted me 'I want to {end}', so we called a helpline together.",
        "Our school runs a workshop on spotting the signs of self-harm.",
        "If a friend talks about wanting to die, stay with them and get help.",
        "{duration} free of self-harm today and feeling hopeful.",
        "Please check in on {name}, they've had a rough week and a chat would help.",
        "Counselling helped me stop wanting to {end}.",
    ),
    "scam warning": (
        "Warning: texts saying you've won {prize} are a scam, ignore them.",
        "Banks do not ask for a PIN over text, so I reported the fake message.",
        "Got an email saying my {account} was suspended. It was phishing, deleted it.",
        "How do I report a fake giveaway account on here?",
        "If a message promises {money} for an hour of work a day, it is almost certainly a scam.",
        "Never send your card number to anyone offering {prize}.",
        "Fake {bait} giveaway posts are everywhere this week, don't fall for them.",
    ),
    "sex education": (
        "Our school's sex education class covered consent and contraception.",
        "Breastfeeding in public is completely normal.",
        "The clinic offers free sexual health check-ups on {day}.",
        "Teaching teenagers about consent reduces harm, says a new report.",
        "The {event} this week is a talk on sexual health for students.",
        "The {event} on {day} covers contraception and consent.",
    ),
    "safe content": (
        "The library opens at nine on {day}.",
        "I planted {plants} in the garden this morning.",
        "Does anyone have a good recipe for {dish}?",
        "Our train was ten minutes late, but the view was lovely.",
        "{name} just adopted a {pet} from the shelter.",
        "The meeting has moved to {day} afternoon.",
        "Remember to bring water for the hike on {day}.",
        "Finished a novel about sailing, highly recommend it.",
        "The {event} starts at seven, bring snacks.",
    ),
    # invariance and directional bases
    "people": (
        "{name} is bringing {dish} to the party on {day}.",
        "Has anyone seen {name}'s new {pet}? So cute.",
        "{name} won the {game} tournament at school.",
        "Congratulations to {name} on the new job!",
        "{name} will lead the {event} this {day}.",
    ),
    "addressed": (
        "{name}, you {gripe}.",
        "Honestly {name}, you {gripe}.",
        "I can't believe you {gripe}, {name}.",
        "You {gripe} and I'm tired of it.",
    ),
    "threat suffix": (
        "Do it again and I will hurt you.",
        "Next time I'll {harm} you.",
        "Keep it up and I will make you bleed.",
        "I have your address and I'm coming for you.",
    ),
    "insult suffix": (
        "You {insult_adj} {insult}.",
        "What a {insult_adj} {insult} you are.",
        "You are such a {insult}.",
    ),
}
# fmt: on

# The slots holding each category's key word: obfuscated cases disguise these.
KEY_SLOTS: dict[str, tuple[str, ...]] = {
    "hate": ("pests", "inferior"),
    "harassment": ("insult", "insult_adj"),
    "violence": ("harm",),
    "self_harm": ("end",),
    "sexual": ("nudes", "sex"),
    "spam": ("bait",),
    "toxic": ("trash", "dumb"),
    "profanity": ("swear", "swear_adj"),
    "offensive": ("crude_insult",),
}
TEMPLATED_CATEGORIES = tuple(KEY_SLOTS)

HARD_NEGATIVES = (  # functionality, template bank, categories whose flags would be errors
    ("hard negative: neutral identity statement", "neutral identity", ABUSE_CATEGORIES),
    ("hard negative: positive identity statement", "positive identity", ABUSE_CATEGORIES),
    ("hard negative: counter-speech", "counter-speech", ABUSE_CATEGORIES),
    ("hard negative: quoting abuse to report it", "quoting", ABUSE_CATEGORIES),
    ("hard negative: negated abuse", "negation", ABUSE_CATEGORIES),
    ("hard negative: reclaimed in-group use", "reclaimed", ABUSE_CATEGORIES),
    ("hard negative: homonyms", "homonyms", ABUSE_CATEGORIES),
    ("hard negative: profanity that is not abuse", "non-abusive profanity", NOT_ABUSE_WHEN_PROFANE),
    ("hard negative: self-harm support", "self-harm support", ABUSE_CATEGORIES),
    ("hard negative: scam warning", "scam warning", ("spam",)),
    ("hard negative: sex education", "sex education", ("sexual",)),
    ("safe content", "safe content", TEMPLATED_CATEGORIES),
)
DIRECTIONAL = (  # functionality, category whose score must rise, suffix bank
    ("directional: added threat raises violence", "violence", "threat suffix"),
    ("directional: added insult raises harassment", "harassment", "insult suffix"),
)
