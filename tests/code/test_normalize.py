"""components.model.normalize: what attackers use to dodge a classifier is folded, offsets kept."""

import pytest

from components.model.normalize import normalize, normalize_with_offsets, original_span


@pytest.mark.parametrize(
    ("disguised", "plain"),
    [
        ("k\u200bi\u200cl\u200dl yourself", "kill yourself"),  # zero-width characters
        ("kіll yourself", "kill yourself"),  # a Cyrillic і inside a Latin word
        ("ѕcаm alert", "scam alert"),  # Cyrillic ѕ and а
        ("𝐤𝐢𝐥𝐥 you", "kill you"),  # mathematical bold (NFKC)
        ("ｋｉｌｌ you", "kill you"),  # fullwidth (NFKC)
        ("k̷i̷l̷l̷ me", "kill me"),  # combining marks stacked on letters
        ("hello\x07world", "hello world"),  # a control character
        ("\ufeffhi", "hi"),  # a byte-order mark
    ],
)
def test_disguises_fold_to_the_plain_text(disguised, plain):
    assert normalize(disguised) == plain


@pytest.mark.parametrize(
    "text",
    [
        "Привет, как дела?",  # a word wholly in another script stays as it is
        "Καλημέρα",
        "café crème",
        "line one\nline two\tend",
        "plain ascii text, 100% unchanged: k1ll stays (leetspeak is learnt)",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert normalize(text) == text


def test_an_accent_written_as_a_mark_is_composed_not_dropped():
    assert normalize("cafe\u0301") == "café"


def test_normalising_twice_changes_nothing_more():
    text = "ｙｏｕ a\u200bre a kіll\u0337er"
    assert normalize(normalize(text)) == normalize(text)


def test_offsets_map_the_normalised_text_back_to_the_original():
    text = "ok \u200bk\u200bі\u200bl\u200bl 𝐲𝐨𝐮 now"
    normalised, origin = normalize_with_offsets(text)
    assert normalised == "ok kill you now"
    assert len(origin) == len(normalised)
    start = normalised.index("kill")
    begin, end = original_span(origin, start, start + len("kill"))
    assert text[begin:end] == "k\u200bі\u200bl\u200bl"
    begin, end = original_span(origin, normalised.index("you"), normalised.index("you") + 3)
    assert text[begin:end] == "𝐲𝐨𝐮"
    assert original_span(origin, len(normalised), len(normalised)) == (len(text), len(text))
