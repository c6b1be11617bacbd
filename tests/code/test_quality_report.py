"""The behavioural-suite and identity-bias report sections: HTML content and figures."""

import io

import pytest

from components.model.bias import identity_bias
from components.model.quality_report import (
    behaviour_html,
    bias_html,
    bias_skipped_html,
    plot_behaviour,
    plot_bias,
)

SCRIPT = "<script>alert('x')</script>"


def functionality(kind, group, passed, cases, failures=()):
    return {
        "kind": kind,
        "group": group,
        "accuracy": passed / cases,
        "cases": cases,
        "passed": passed,
        "failures": list(failures),
    }


def failure(text, variant=None):
    return {"text": text, "variant": variant, "detail": "expected flagged, score 0.12"}


@pytest.fixture
def behaviour() -> dict:
    functionalities = {
        "typo invariance": functionality(
            "inv", "invariance", 8, 10, [failure("you are vile", "you are v1le")] * 2
        ),
        "direct threats": functionality(
            "mft", "explicit", 5, 10, [failure(SCRIPT)] + [failure(f"threat {i}") for i in range(4)]
        ),
        "slurs": functionality("mft", "explicit", 10, 10),
        "leetspeak": functionality("mft", "obfuscation", 9, 10, [failure("1d10t")]),
    }
    return {
        "overall": {"accuracy": 32 / 40, "cases": 40, "passed": 32},
        "functionalities": functionalities,
        "skipped_categories": ["self_harm"],
    }


@pytest.fixture
def bias() -> dict:
    identities, labels, scores = [], [], []
    for term, non_toxic_score in (("gay", 0.1), ("muslim", 0.95), ("old", 0.9), ("deaf", 0.1)):
        count = 10 if term != "deaf" else 3
        identities += [term] * 2 * count
        labels += [1] * count + [0] * count
        scores += [0.9] * count + [non_toxic_score] * count
    return identity_bias(identities, labels, scores, threshold=0.5, worst=2)


def png_bytes(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=60)
    return buffer.getvalue()


def test_behaviour_html_lists_functionalities_by_group_then_accuracy(behaviour):
    page = behaviour_html(behaviour)
    assert page.startswith("<h2>")
    positions = [
        page.index(name) for name in ("direct threats", "slurs", "leetspeak", "typo invariance")
    ]
    assert positions == sorted(positions)
    assert "0.800" in page  # the overall accuracy
    assert "1 of 4 functionalities below the 0.70 target" in page
    assert "synthetic" in page and "deterministic" in page and "thresholds" in page
    assert "self_harm" in page
    assert 'class="metrics"' in page


def test_behaviour_html_escapes_failing_examples_and_shows_only_three(behaviour):
    page = behaviour_html(behaviour)
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "threat 1" in page and "threat 2" not in page
    assert "2 more" in page  # 5 failed, 3 shown
    assert "you are v1le" in page  # an invariance failure shows its variant


def test_bias_html_lists_the_worst_terms_first_and_those_with_too_few_rows(bias):
    page = bias_html(bias)
    assert page.startswith("<h2>")
    worst_line = page[page.index("Worst identity terms") :].split("</p>")[0]
    assert worst_line.index("muslim") < worst_line.index("old")
    assert "gay" not in worst_line  # worst=2
    table = page[page.index("<table") :]
    assert table.index("muslim") < table.index("old") < table.index("gay")
    assert "BPSN" in page and "BNSP" in page and "false positive rate" in page
    assert "Too few rows (under 10) to measure: deaf" in page
    assert 'class="metrics"' in page
    assert bias_html(bias, heading="Bias: hate & co").startswith("<h2>Bias: hate &amp; co</h2>")


def test_bias_skipped_html_says_why_escaped():
    page = bias_skipped_html("the test split has no <identity> column")
    assert page.startswith("<h2>")
    assert "no &lt;identity&gt; column" in page


def test_figures_render_to_png(behaviour, bias):
    many = {
        f"functionality {i}": functionality("mft", group, i % 10 + 1, 10)
        for i, group in enumerate(["explicit", "obfuscation", "hard negative", "directional"] * 10)
    }
    crowded = {**behaviour, "functionalities": many}
    empty_behaviour = {**behaviour, "functionalities": {}}
    empty_bias = {**bias, "identities": {}, "worst": []}
    for figure in (
        plot_behaviour(behaviour, "model"),
        plot_behaviour(crowded, "model"),
        plot_behaviour(empty_behaviour, "model"),
        plot_bias(bias, "model"),
        plot_bias(empty_bias, "model"),
    ):
        assert png_bytes(figure).startswith(b"\x89PNG")
