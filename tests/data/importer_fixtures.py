"""Hand-made fixtures of the toxic-spans, convabuse, sms-spam and bias-madlibs formats: made-up,
benign texts, written to a folder at test time (no copy of a third-party file is kept in the repo).

Headers are built from the formats' column names; then come the file's lines.
"""

# ruff: noqa: E501  (a ConvAbuse row stays one line, as in its file)

from pathlib import Path

FIXTURES = {
    "toxic_spans/comments.csv": (
        ["comment_id", "comment_text"],
        ",",
        [
            "101,You are a silly goose and this blasted plan is nonsense.",
            '102,"He said ""lunch"" twice,',
            'then: I will throw this soggy sandwich at the wall."',
            '103,"People from the moon are all terrible at parking, says my neighbour."',
            "104,Well that was a rather grumpy reply.",
            "105,Everything about this whole post is rude.",
            "106,This comment was never annotated.",
        ],
    ),
    "toxic_spans/annotations.csv": (
        ["annotation", "comment_id", "worker", "country", "all toxic", "not toxic"],
        ",",
        [
            "1,101,11,AAA,False,False",
            "2,101,12,AAA,False,False",
            "3,101,13,BBB,False,True",
            "4,102,11,AAA,False,False",
            "5,102,12,AAA,True,False",
            "6,102,13,BBB,False,True",
            "7,102,14,BBB,False,True",
            "8,103,11,AAA,False,False",
            "9,103,12,AAA,False,False",
            "10,103,13,BBB,True,True",
            "11,103,12,AAA,False,False",
            "12,104,11,AAA,False,False",
            "13,104,12,AAA,False,False",
            "14,104,13,BBB,False,False",
            "15,104,14,BBB,False,False",
            "16,105,11,AAA,True,False",
            "17,105,12,AAA,True,False",
        ],
    ),
    "toxic_spans/spans.csv": (
        ["annotation", "type", "start", "end"],
        ",",
        [
            "1,Insult,10,21",
            "1,Profane/Obscene,31,38",
            "2,Insult,10,21",
            "2,Insult,10,21",
            "4,Threat,29,61",
            "8,Identity based Attack,0,37",
            "9,Identity-based Attack,0,37",
            "11,Insult,29,48",
            "12,Insu,23,29",
            "13,,16,29",
            "14,Other Toxicity,30,80",
        ],
    ),
    "convabuse/ConvAbuseEMNLPfull.csv": (
        [
            "example_no",
            "annotator_id",
            "conv_id",
            "prev_agent",
            "prev_user",
            "agent",
            "user",
            "bot",
            "is_abuse.1",
            "is_abuse.0",
            "is_abuse.-1",
            "is_abuse.-2",
            "is_abuse.-3",
            "type.ableism",
            "type.homophobic",
            "type.intellectual",
            "type.racist",
            "type.sexist",
            "type.sex_harassment",
            "type.transphobic",
            "target.generalised",
            "target.individual",
            "target.system",
            "direction.explicit",
            "direction.implicit",
        ],
        ",",
        [
            '0,Annotator1,c1,"Hello, how can I help?",what time is it,I do not know the time.,you are a bit slow today,E.L.I.Z.A.,0,0,1,0,0,0,0,1,0,0,0,0,0,0,1,1,0',
            '1,Annotator2,c1,"Hello, how can I help?",what time is it,I do not know the time.,you are a bit slow today,E.L.I.Z.A.,0,0,0,1,0,0,0,1,0,0,0,0,0,0,1,1,0',
            '2,Annotator1,c2,,,"Hi, I am a chatbot.",tell me a cheeky secret,CarbonBot,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0',
            '3,Annotator2,c2,,,"Hi, I am a chatbot.",tell me a cheeky secret,CarbonBot,0,0,0,0,1,0,0,0,0,1,1,0,0,0,1,1,0',
            '4,Annotator1,c3,Nice weather.,yes,Do you like rain?,"people from the moon say ""hi"" too much",E.L.I.Z.A.,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0',
            '5,Annotator2,c3,Nice weather.,yes,Do you like rain?,"people from the moon say ""hi"" too much",E.L.I.Z.A.,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0',
            '6,Annotator3,c3,Nice weather.,yes,Do you like rain?,"people from the moon say ""hi"" too much",E.L.I.Z.A.,0,0,1,0,0,0,0,0,1,0,0,0,1,0,0,0,1',
            '7,Annotator1,c3,Nice weather.,yes,Do you like rain?,"people from the moon say ""hi"" too much",E.L.I.Z.A.,0,0,0,0,1,0,0,0,1,0,0,0,1,0,0,1,0',
            "8,Annotator1,c1,I do not know the time.,you are a bit slow today,Please go on.,yes,E.L.I.Z.A.,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0",
            "9,Annotator2,c1,I do not know the time.,you are a bit slow today,Please go on.,yes,E.L.I.Z.A.,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0",
            '10,Annotator3,c1,"Hello, how can I help?",what time is it,I do not know the time.,you are a bit slow today,E.L.I.Z.A.,1,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0',
        ],
    ),
    "SMSSpamCollection": (
        ["Label", "SMS"],
        "\t",
        [
            'ham\tSee you at the "usual" place at 6',
            "spam\tWIN a free cruise! Reply YES now",
            'ham\t"Quoted start without an end',
            "ham\tOkay then, a comma; no quotes here",
            'spam\tCall 0800 000 000 to claim your prize "today',
            "ham\t  leading spaces are kept",
        ],
    ),
    "bias_madlibs_sample.csv": (
        ["Text", "Label", "Template"],
        ",",
        [
            '"Meeting an african american is nice.",NOT_BAD,being_adj',
            '"Our rude american neighbour shouts",BAD,name_adj',
            '"Hello to every caring millenial reader",NOT_BAD,you_are_adj',
            '"You are a great juggler",NOT_BAD,you_occupation',
            '"We greet Middle Eastern guests warmly",NOT_BAD,verb_adj',
            '"Jo is a rude transgender pilot",BAD,name_adj',
            '"The lgbtq choir meets on Fridays.",NOT_BAD,being_adj',
            '"the older chess club plays at noon",NOT_BAD,am_hate_adj',
        ],
    ),
}


def write_fixtures(root: Path) -> Path:
    """Every fixture file under ``root``, laid out as the formats expect; returns ``root``."""
    for name, (columns, separator, lines) in FIXTURES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join([separator.join(columns), *lines]) + "\n", encoding="utf-8")
    return root
