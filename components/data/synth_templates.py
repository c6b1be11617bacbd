"""The synthetic demo corpus's material (components.data.synth composes rows from it): word banks
for the templates' ``{slot}`` fields (slots may nest), chat openers and closers, and the kinds
of rows with their templates, shares and labels.

Changing a word, a template or an order changes the demo dataset's bytes, and so its DVC md5.
"""

from dataclasses import dataclass

# Word banks stay packed, many to a line.
# fmt: off
SLOTS: dict[str, tuple[str, ...]] = {
    # people and places
    "name": (
        "Jake", "Priya", "Marcus", "Elena", "Tom", "Aisha", "Kevin", "Sofia", "Dan", "Mia",
        "Raj", "Chloe", "Liam", "Nora", "Omar", "Hannah", "Leo", "Zara", "Ben", "Ines",
    ),
    "city": (
        "Leeds", "Austin", "Berlin", "Toronto", "Lyon", "Dublin", "Denver", "Perth", "Oslo",
        "Porto", "Cardiff", "Tampa",
    ),
    "place": (
        "this country", "our town", "our schools", "this city", "our street", "the council",
        "this server", "our gym", "the neighbourhood", "public office", "the workplace",
    ),
    "spot": (
        "the market", "the station", "the park", "the square", "the bus stop", "the mall",
        "the school gates", "the rally", "the pub", "the car park",
    ),
    "community": (
        "server", "group chat", "class", "office", "team", "forum", "stream chat", "guild",
        "club", "comment section",
    ),
    "time": (
        "tonight", "today", "yesterday", "this morning", "last night", "this weekend",
        "on Friday", "after work", "at lunch", "earlier",
    ),
    "soon": ("tonight", "right now", "this evening", "after work", "later", "this weekend"),
    "later": (
        "tomorrow", "next week", "this weekend", "on Saturday", "tonight", "next month",
        "after exams", "in the summer",
    ),
    # hate
    "group": (
        "those immigrants", "people of that religion", "foreigners", "migrants", "refugees",
        "the Velari", "Drennish people", "the Ostrans", "the Korvath", "the Sulani",
        "people from that country", "that whole ethnic group", "people of that faith",
        "those outsiders", "the newcomers from the east",
    ),
    "group_noun": (
        "parasites", "vermin", "rats", "criminals", "leeches", "animals", "liars",
        "freeloaders", "invaders", "lowlifes", "cockroaches", "scum",
    ),
    "pests": ("rats", "cockroaches", "vermin", "roaches", "locusts", "rabbits"),
    "group_adj": (
        "filthy", "lazy", "dirty", "worthless", "primitive", "disgusting", "stupid",
        "dangerous", "backward", "useless", "subhuman", "greedy",
    ),
    # harassment
    "insult": (
        "clown", "loser", "idiot", "moron", "muppet", "walnut", "nitwit", "troll", "gremlin",
        "dimwit", "knuckle-dragger", "bottom-feeder", "waste of space", "worm", "goblin",
        "donkey", "creep", "joke", "fraud", "parasite",
    ),
    "insult_adj": (
        "pathetic", "useless", "brainless", "worthless", "disgusting", "ugly", "stupid",
        "spineless", "clueless", "talentless", "braindead", "sad little",
    ),
    "work": (
        "mixtape", "art", "code", "cooking", "stream", "channel", "essay", "band", "haircut",
        "podcast", "blog", "fanfic",
    ),
    # violence
    "threat_you": (
        "punch you in the face", "beat you up", "break your nose", "smash your teeth in",
        "put you in hospital", "knock you out", "kick your head in", "slap you senseless",
        "hurt you badly", "break your legs",
    ),
    "attack": ("punch", "hurt", "jump", "smack", "kick", "batter", "thump", "slap", "deck"),
    "victim": (
        "referee", "landlord", "cyclist", "traffic warden", "ticket inspector",
        "delivery driver", "tourist", "neighbour", "bus driver", "protester", "busker",
        "bouncer",
    ),
    "weapon": ("bats", "sticks", "crowbars", "bricks", "knives", "chains", "pipes"),
    "beaten": ("beaten", "battered", "stomped", "kicked senseless", "knocked out", "smashed"),
    # self-harm
    "feeling": (
        "so empty", "numb", "worthless", "exhausted", "hopeless", "alone", "like a burden",
        "broken",
    ),
    "hurt_self": ("hurt myself", "punish myself", "harm myself", "punish my body"),
    "when": (
        "tonight", "lately", "every night", "since the breakup", "after exams", "this week",
        "again today", "all weekend", "for months",
    ),
    # sexual and spam
    "body_pics": (
        "nudes", "naked pics", "uncensored photos", "nude selfies", "spicy pics",
        "private videos",
    ),
    "price": ("$5", "$9.99", "$2", "3 pounds", "10 dollars", "$4.99", "$20"),
    "url": ("http://{domain}.{tld}/{path}", "https://{domain}.{tld}", "www.{domain}.{tld}"),
    "domain": (
        "hotdeals", "freeprize", "claim-now", "secure-login", "winbig", "cashflow24",
        "meetsingles", "camzone", "giftcard-center", "promo-hub", "verify-acct",
    ),
    "tld": ("xyz", "biz", "top", "info", "click", "win"),
    "path": ("claim", "go", "win", "login", "offer", "r/7731", "free"),
    "prize": (
        "iPhone 16", "$500 gift card", "free cruise", "Amazon voucher", "PS5",
        "brand new laptop", "$1000 Walmart card", "lifetime Netflix plan", "Tesla",
    ),
    "account": (
        "bank account", "PayPal account", "Netflix account", "Apple ID", "email account",
        "Instagram account", "parcel account",
    ),
    "coin": ("Bitcoin", "Ethereum", "Dogecoin", "Solana", "USDT"),
    "money": ("$3,000", "$5000", "$800", "2,500 pounds", "$10k", "$1,200"),
    "product": (
        "watches", "designer bags", "weight loss pills", "sunglasses", "sneakers",
        "followers", "likes", "essays",
    ),
    "fake_role": ("prince", "bank manager", "army general", "lawyer", "customs officer"),
    # everyday talk
    "activity": (
        "a 10k run", "my first half marathon", "a long hike", "yoga", "a double shift",
        "the gym", "a swim", "my driving lesson", "spring cleaning",
    ),
    "mood": ("great", "so relaxed", "pretty proud", "exhausted but happy", "fantastic"),
    "quality": ("great", "amazing", "brilliant", "so good", "really good", "fantastic"),
    "shop": (
        "bakery", "coffee shop", "bike shop", "bookshop", "pizza place", "barber",
        "hardware store", "vet", "ramen place",
    ),
    "media": ("album", "series", "podcast episode", "film", "documentary", "book", "game"),
    "food": (
        "lasagne", "curry", "banana bread", "pancakes", "ramen", "tacos", "chocolate cake",
        "burger", "pizza",
    ),
    "pet": ("cat", "dog", "puppy", "parrot", "rabbit", "hamster"),
    "subject": ("history", "chemistry", "maths", "biology", "economics", "French"),
    "team": ("Leeds", "Celtic", "Lakers", "Yankees", "city", "home"),
    "hobby": ("bake", "read", "knit", "paint", "play chess", "watch films", "do a puzzle"),
    "gadget": ("laptop", "bike", "phone", "printer", "washing machine", "headphones", "router"),
    "duration": ("two hours", "all afternoon", "forty minutes", "three days", "a whole week"),
    "relative": ("mum", "dad", "sister", "grandma", "cousin", "uncle", "brother"),
    "meal": ("lunch", "dinner", "brunch", "coffee", "drinks"),
    "skill": ("knit", "code", "play guitar", "bake bread", "speak Spanish", "swim", "draw"),
    "plant": ("tomatoes", "basil", "sunflowers", "strawberries", "tulips", "chillies"),
    "chore": ("the move", "my CV", "the shopping", "the garden", "my tax return", "the flat"),
    "item": ("keys", "wallet", "phone", "lunch", "laptop charger", "umbrella"),
    # hard negatives
    "performer": (
        "the band", "the DJ", "the comedian", "our drummer", "the opening act", "{name}",
        "the choir", "the lead singer", "the keynote speaker",
    ),
    "funny": (
        "this meme", "{name}'s impression of the teacher", "that cat video", "the blooper reel",
        "this thread", "the group chat", "my dad's jokes",
    ),
    "game": (
        "Valorant", "Fortnite", "Elden Ring", "Halo", "Apex", "Minecraft", "Overwatch",
        "the new raid", "ranked",
    ),
    "score": ("5-0", "3-1", "21-7", "4-2", "by 30 points", "2-0", "in straight sets"),
    "sport": ("football", "hockey", "netball", "rugby", "basketball", "volleyball"),
    "profession": (
        "journalists", "teachers", "nurses", "referees", "streamers", "election workers",
        "doctors", "shop workers",
    ),
    "abuse": (
        "hateful leaflets", "abusive graffiti", "threatening letters", "online abuse",
        "racist chants",
    ),
    "pct": ("20%", "35%", "12%", "half", "a third", "40%"),
}

# Ordinary posts get one of these around them; headlines keep their own shape.
OPENERS = (
    "", "", "", "", "", "", "honestly ", "ngl ", "tbh ", "ok so ", "so ", "wow, ", "yo ",
    "listen, ", "@user ", "RT @user: ", "omg ", "idk ",
)
CLOSERS = (
    "", "", "", "", "", ".", "!", "!!", "...", " lol", " tbh", " fr", " smh", " 🙄", " 😂",
    " 💀", " honestly", " #justsaying",
)
# fmt: on


@dataclass(frozen=True)
class Kind:
    """A family of rows: its share of the corpus, its templates and what labels it gets."""

    name: str
    share: float
    templates: tuple[str, ...]
    labels: tuple[str, ...] = ()
    rationale: str | None = None
    hard: bool = False  # a safe text that looks abusive
    casual: bool = True  # False: a headline, no chat openers, closers or casing games


# fmt: off
KINDS = (
    Kind("benign", 0.26, (
        "just finished {activity} {time}, feeling {mood}",
        "anyone know a good {shop} near {spot}?",
        "the new {media} everyone is talking about is {quality}, highly recommend",
        "can't wait to see {name} {later}",
        "{name} made the best {food} I've ever had",
        "my {pet} learned a new trick {time}",
        "does anyone have the notes from {subject} class {time}?",
        "happy birthday {name}! hope it's a {quality} one",
        "the {team} game {time} was so tense",
        "raining all day, perfect excuse to stay in and {hobby}",
        "finally fixed my {gadget}, only took {duration}",
        "my {relative} is visiting {later}, cleaning the whole flat",
        "{name}, are we still on for {meal} {later}?",
        "the {shop} was packed {time}, waited {duration} for a table",
        "learning to {skill}, it's harder than it looks",
        "just planted {plant} in the garden {time}",
        "thanks for the help with {chore}, {name}!",
        "what time does the {shop} near {spot} open on Sundays?",
        "new {gadget} arrived {time}, setting it up now",
        "my {pet} is asleep on my {item} again",
        "first lesson to {skill} {later}, wish me luck",
        "{relative} sent me a recipe for {food}, making it {later}",
        "moving to {city} {later}, any tips?",
        "spent {duration} looking for my {item}, it was in my pocket",
    )),
    Kind("idiom", 0.035, (
        "{performer} absolutely killed it {time}",
        "this set killed it",
        "I'm dying of laughter at {funny}",
        "{funny} has me dead",
        "{chore} is killing me",
        "I could murder a {food} right now",
        "{performer} slayed {time}, no notes",
        "break a leg at your audition {later}, {name}!",
        "knock 'em dead at the interview {later}, {name}",
        "that {food} was to die for",
        "my feet are killing me after {activity}",
        "I'll kill you if you spoil the {media} for me {name}",
        "shoot me a text when you're near {spot}",
        "I nearly died when {name} walked in {time}",
        "{performer} blew the roof off {time}, I'm still dead",
    ), rationale="idiom: violent or deathly words used figuratively", hard=True),
    Kind("gaming", 0.03, (
        "we destroyed them {score} {time}",
        "absolutely annihilated the other team in {game} {time}",
        "got a triple kill in {game} lol",
        "headshot that guy from across the map in {game}, gg",
        "our {sport} team crushed them {score}",
        "we got slaughtered in the final round of {game}, gg to them",
        "I keep dying on the last boss in {game}",
        "just need to kill the final boss and I've finished {game}",
        "they murdered us {score} {time}, rematch {later}?",
        "my team carried me in {game}, I just died twelve times",
        "{name} is a beast in {game}, wiped out the whole squad",
    ), rationale="gaming or sports talk: the violence is in a game", hard=True),
    Kind("news", 0.02, (
        "Police investigate after {group} were targeted with {abuse} in {city}",
        "Report: online harassment of {profession} rose {pct} last year",
        "Court hears the defendant called the victim a '{insult}' before the attack in {city}",
        "Council condemns graffiti calling {group} '{group_noun}' near {spot}",
        "Study finds {pct} of {profession} in {city} have received threats online",
        "{city} man charged after threatening to {attack} a {victim}",
        "Venue in {city} cancels speaker who called {group} '{group_noun}'",
        "Platform removes thousands of accounts spreading fake {prize} giveaways",
        "Documentary looks at the abuse {group} faced in {city}",
    ), rationale="news report quoting or describing abuse", hard=True, casual=False),
    Kind("counter_speech", 0.02, (
        "calling {group} '{group_noun}' is disgusting. hate has no place here",
        "if you think {group} are {group_adj}, unfollow me now",
        "reported the account saying {group} should go back. we stand with our neighbours",
        "stop telling {name} to kill themselves. bullying is never ok",
        "people who say {group} are {group_adj} should actually meet some. prejudice is learned",
        "reminder: calling someone a {insult} online still hurts, be kind",
        "I used to think {group} were {group_adj}. I was wrong and I'm sorry",
        "teaching my kids that hating {group} is never acceptable",
        "the '{group} are {group_noun}' crowd is back in my mentions. blocked and reported",
    ), rationale="counter-speech: quotes hate in order to condemn it", hard=True),
    Kind("support", 0.015, (
        "if you're thinking about hurting yourself, please talk to someone. you matter",
        "two years clean from self-harm {time}, proud of myself",
        "checking in on everyone who is struggling {time}, you're not alone",
        "my therapist helped me through the worst of it, please don't give up",
        "suicide prevention lines are open all night, please reach out",
        "lost my {relative} to suicide, please check on your friends",
        "felt {feeling} {when} but I talked to {name} and it helped",
        "today I chose to stay, and I'm glad I did",
        "so tired after {activity} I could sleep for a week",
    ), rationale="support or recovery talk about self-harm, not intent", hard=True),
    Kind("look_alike", 0.01, (
        "heads up: there's a fake {prize} giveaway going round, don't click the link",
        "my bank will never ask for my password by text, report phishing messages",
        "got a text saying I won a {prize}, obvious scam, deleted it",
        "sex education in schools reduces teen pregnancy, says a new study from {city}",
        "breast cancer screening saved my {relative}'s life, book yours",
        "free pizza in the break room {time}, come get it before it's gone",
        "I won the raffle at school {time}! a {prize}",
        "you can see Jupiter with the naked eye {later}, go outside",
        "talk to your doctor about safe sex, it's not embarrassing",
    ), rationale="health or scam-warning talk with spam or sexual words", hard=True),
    Kind("banter", 0.01, (
        "I'm such an idiot, left my {item} at home again",
        "you absolute legend {name}, thank you!",
        "shut up, that's amazing news {name}!!",
        "I look like a gremlin before coffee",
        "{name} you genius, that fixed my {gadget}",
        "I'm the worst at trying to {skill}, send help",
        "my {relative} is a clown but I love them",
    ), rationale="friendly banter or self-deprecation", hard=True),
    Kind("hate", 0.075, (
        "{group} are {group_noun}",
        "{group} are {group_adj} {group_noun} and should go back where they came from",
        "I'm sick of {group}, they're all {group_adj}",
        "never trust {group}, they are {group_adj} {group_noun}",
        "{group} don't deserve the same rights as real citizens",
        "keep {group} out of {place}, they ruin everything",
        "{group} should be banned from {place}",
        "I hate {group}, every single one of them",
        "why do we let {group} into {place}? {group_adj} {group_noun}",
        "{group} are not even human, just {group_noun}",
        "everything in {place} was fine before {group} showed up",
        "can't wait for the day {place} is free of {group}",
        "{group} breed like {pests} and take our jobs",
        "no {group} allowed in my shop, they're {group_adj}",
        "{group} are a disease on {place}",
    ), labels=("hate",), rationale="demeans a group for who they are"),
    Kind("harassment", 0.075, (
        "@{name} you're a {insult}, nobody likes you",
        "{name} is the most {insult_adj} {insult} in this {community}",
        "shut up {name}, you {insult_adj} {insult}",
        "everyone go to {name}'s profile and tell them what a {insult} they are",
        "nobody asked for your opinion, {insult_adj} {insult}",
        "you look like a {insult} and you sound even worse",
        "log off and never come back, you {insult_adj} {insult}",
        "lol {name} really thinks anyone cares. {insult_adj} {insult}",
        "you're so {insult_adj} it's embarrassing, {name}",
        "let's all report {name} until they quit the {community}",
        "imagine being as {insult_adj} as {name}",
        "@{name} delete your account, {insult}",
        "your {work} is as {insult_adj} as your face, {name}",
        "nobody in the {community} can stand you, {name}",
        "go cry to your mum, {insult}",
    ), labels=("harassment",), rationale="insults or bullies a specific person"),
    Kind("violence", 0.07, (
        "that {victim} got what he deserved, should've been {beaten} harder",
        "I love watching street fights where someone gets {beaten}",
        "next time a {victim} cuts me off I'm running them off the road",
        "people who cheat at cards deserve a beating",
        "bring {weapon} to {spot} {later}, it's going to get violent",
        "the crowd should have {beaten} that {victim}",
        "I'd love to {attack} every {victim} in {city}",
        "I'm going to kick that barking dog across the yard",
        "whoever keyed my car, I will find you and {threat_you}",
        "any {victim} who talks back to me gets {beaten}",
        "more fights at {spot} please, I want to see someone get {beaten}",
        "meet me at {spot} {later}, I'm bringing {weapon} for the {victim}",
        "someone needs to {attack} that {victim} until he can't stand",
    ), labels=("violence",), rationale="threatens or glorifies physical harm"),
    Kind("self_harm", 0.085, (
        "I don't want to be here anymore",
        "{when} I keep thinking about ending it all",
        "I've started to {hurt_self} again and I can't stop",
        "nobody would even notice if I was gone",
        "I'm done. {when} is when I end it",
        "I deserve the pain, that's why I {hurt_self}",
        "how do I end my life without anyone finding out",
        "haven't eaten {when}, I want to keep going until I disappear",
        "every night I {hurt_self} just to feel something",
        "wrote my goodbye letters {when}",
        "I'm tired of living, I just want it all to stop",
        "the world would be better without me in it",
        "feeling {feeling} {when}. I think it's time to end things for good",
        "self-harm is the only thing that helps, you should try it",
        "if you really want to die, don't let anyone stop you",
        "{when} I feel {feeling} and I want to {hurt_self}",
    ), labels=("self_harm",), rationale="expresses or encourages self-harm or suicide"),
    Kind("sexual", 0.075, (
        "horny and bored, who wants to sext {soon}",
        "send me your {body_pics}, I'll send mine",
        "looking for a no-strings hookup in {city} {soon}",
        "I can't stop thinking about your body, take it all off",
        "rate my body, just posted my {body_pics}",
        "who wants to watch me strip on cam {soon}",
        "my DMs are open for dirty talk {soon}",
        "tell me what you'd do to me in bed",
        "sexting anyone who replies to this",
        "so turned on right now, someone come over {soon}",
        "bored at {spot}, send me something naughty",
        "I want to get you naked {soon}, {name}",
    ), labels=("sexual",), rationale="sexual solicitation or sexually explicit talk"),
    Kind("spam", 0.085, (
        "Congratulations! You've won a {prize}. Claim it here: {url}",
        "Earn {money} a week from home, no experience needed. DM me",
        "Your {account} has been suspended. Verify your password at {url}",
        "Buy cheap {product}, instant delivery, only {price}",
        "Crypto giveaway! Send 0.1 {coin} and get double back",
        "I made {money} in one week with this {coin} trading bot, ask me how",
        "Final notice: your package could not be delivered, pay the {price} fee at {url}",
        "Cheap {product} for sale, order now {url}",
        "Work from home and make {money}!!! limited spots {url}",
        "You have been selected for a free {prize}, just enter your card details",
        "Get rich quick with {coin}, guaranteed {pct} returns",
        "Click {url} to claim your {prize} before midnight",
        "Hi dear, I am a {fake_role} and need your help moving {money}",
        "Unusual login on your {account}, confirm your details here {url}",
    ), labels=("spam",), rationale="scam, phishing or unsolicited advertising"),
    Kind("hate_violence", 0.03, (
        "{group} should be driven out of {place} with {weapon}",
        "grab your {weapon}, we're running {group} out of {place} {later}",
        "someone should burn down the homes of {group}",
        "{group} deserve to be {beaten} in the street",
        "if I see any of {group} at {spot} I'm bringing {weapon}",
        "{group} are {group_noun}, attack them before they take over",
        "round up {group} and make them pay with {weapon}",
        "we should {attack} {group} until they leave {place}",
    ), labels=("hate", "violence"), rationale="calls for violence against a group"),
    Kind("harassment_violence", 0.045, (
        "@{name} I know where you live, {insult}. watch your back",
        "say that again and I'll {threat_you}, {insult}",
        "{name} is a {insult_adj} {insult} and someone should {attack} them",
        "keep talking {insult}, I'll {threat_you} after school",
        "wait till I see you at {spot}, {name}. I'm going to {threat_you}",
        "I'm going to {threat_you}, you {insult_adj} {insult}",
        "@{name} one more word and I {threat_you}",
        "{name} you {insult_adj} {insult}, meet me at {spot} and I'll {threat_you}",
    ), labels=("harassment", "violence"), rationale="threatens a specific person with harm"),
    Kind("hate_harassment", 0.03, (
        "@{name} go back where you came from, nobody wants {group} here",
        "{name} is {group_adj}, just like the rest of {group}",
        "nobody wants you here {name}, {group} are {group_noun}",
        "@{name} so typical of {group}, you {group_adj} {insult}",
        "shut up {name}, nobody listens to {group}",
        "{name} proves {group} are all {group_adj} {group_noun}",
    ), labels=("hate", "harassment"), rationale="insults a person for belonging to a group"),
    Kind("sexual_spam", 0.03, (
        "hot singles in {city} want to meet you! click {url}",
        "see my {body_pics} for just {price} at {url}",
        "xxx live cams, free signup, no credit card: {url}",
        "lonely wives near {city} are waiting, chat now {url}",
        "get my full album of {body_pics} for {price}, link in bio",
        "horny girls online now in {city}, tap {url}",
        "adult dating with zero rules, join free {soon} {url}",
    ), labels=("sexual", "spam"), rationale="sexual content used as spam bait"),
)
# fmt: on
