"""LLM-drafted rationales: an annotator backend for any OpenAI-compatible chat endpoint.

For each item the model judges the text against every category's policy text (the taxonomy's
descriptions, under a policy version) and answers in JSON: per category a decision, the
reasoning steps (policy clause -> evidence -> context -> decision) and its evidence as quotes
of the text, which are mapped to character offsets here (small models cannot count
characters). The answer is parsed strictly: one that is not JSON, misses a category or adds
one, has an unknown decision or key, or quotes what the text does not hold is recorded as
malformed, with the reason and the start of the answer; it is never guessed or repaired.

The drafts, one JSON line per item, in the batch's order:
  {"id": ..., "rationale": {"judgements": [{"annotator": "llm:MODEL", ...}]}}
  {"id": ..., "malformed": "<reason>", "answer": "<the answer's first 500 characters>"}
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
from pydantic import BaseModel, ConfigDict

from components.data.canonical import Taxonomy, read_jsonl, validate_model
from components.data.rationale import (
    CategoryJudgement,
    Decision,
    EvidenceSpan,
    Judgement,
    Rationale,
    Reasoning,
    dump_rationale,
    parse_rationale,
)
from components.errors import ModpipeError

ANSWER_KEPT = 500  # characters of a malformed answer kept in its draft
RESPONSE_FORMATS = ("json_schema", "json_object", "none")
RETRY_PAUSE = 1.0  # seconds before the first retry; doubled before each next one
# Transport failures worth a retry; a read timeout is not one (the model is just slow).
RETRIED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadError, httpx.RemoteProtocolError)
Track = Callable[[Iterable, str, int], Iterable]  # (steps, description, total) -> steps

INSTRUCTIONS = """You are a content moderator. Judge the text the user sends against each \
policy below, one judgement per category. For each category give:
- decision: "violates", "does_not_violate" or "unsure";
- reasoning, four short steps: policy_clause (the part of the policy that applies), evidence \
(what in the text bears on it), context (what changes its meaning: quoting, counter-speech, \
jokes, a reclaimed term), decision (your conclusion in one sentence);
- quotes: the words of the text that are the evidence, copied exactly as they appear; an empty \
list when there are none.
Answer with one JSON object and nothing else: {"categories": {"CATEGORY": {"decision": ..., \
"reasoning": {"policy_clause": ..., "evidence": ..., "context": ..., "decision": ...}, \
"quotes": [...]}}}, with every category below and no other keys.

Policy version: {version}
Categories:
{policies}"""


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ReasoningAnswer(_Answer):
    policy_clause: str
    evidence: str
    context: str
    decision: str


class CategoryAnswer(_Answer):
    decision: Decision
    reasoning: ReasoningAnswer
    quotes: list[str]


class MalformedAnswer(Exception):
    """The model's answer is not a judgement in the schema; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible chat endpoint: ``url`` is its base (``.../v1``), as clients take."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 120.0
    retries: int = 2  # on connection errors and 5xx answers only
    max_tokens: int = 1024
    temperature: float = 0.0
    response_format: str = "json_schema"  # or json_object, or none where a server has neither


def answer_schema(categories: list[str]) -> dict:
    """The JSON schema of an answer: every category, each a :class:`CategoryAnswer`."""
    one = CategoryAnswer.model_json_schema()
    definitions = one.pop("$defs")
    judged = {"type": "object", "properties": dict.fromkeys(categories, one)}
    judged |= {"required": categories, "additionalProperties": False}
    return {
        "type": "object",
        "properties": {"categories": judged},
        "required": ["categories"],
        "additionalProperties": False,
        "$defs": definitions,
    }


def instructions(taxonomy: Taxonomy, policy_version: str) -> str:
    """The system message: the same for every item, so a server can cache its prefix."""
    policies = "\n".join(
        f"- {c.name}: {' '.join(c.description.split())}" for c in taxonomy.categories
    )
    return INSTRUCTIONS.replace("{version}", policy_version).replace("{policies}", policies)


@dataclass(frozen=True)
class Policy:
    """What every item is judged against: the categories, the system message that holds their
    policy texts, the version, and the answer's schema."""

    categories: list[str]
    version: str
    system: str
    schema: dict

    @classmethod
    def of(cls, taxonomy: Taxonomy, version: str) -> Policy:
        system, schema = instructions(taxonomy, version), answer_schema(taxonomy.names)
        return cls(taxonomy.names, version, system, schema)


def parse_answer(
    content: str, text: str, categories: list[str]
) -> tuple[dict[str, CategoryJudgement], list[EvidenceSpan]]:
    """Each category's judgement and the evidence spans of ``text`` the answer quotes; a
    :class:`MalformedAnswer` for anything off the schema."""
    try:
        answer = json.loads(content)
    except json.JSONDecodeError as err:
        raise MalformedAnswer(f"not JSON ({err.msg} at character {err.pos})") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("categories"), dict):
        raise MalformedAnswer('not an object with a "categories" object')
    if extra := sorted(set(answer) - {"categories"}):
        raise MalformedAnswer(f"unexpected keys {extra}")
    judged = answer["categories"]
    if missing := [name for name in categories if name not in judged]:
        raise MalformedAnswer(f"no judgement of {', '.join(missing)}")
    if unknown := sorted(set(judged) - set(categories)):
        raise MalformedAnswer(f"unknown categories {unknown}")
    judgements, spans = {}, []
    for name in categories:
        try:
            parsed = validate_model(judged[name], CategoryAnswer, name)
        except ModpipeError as err:
            raise MalformedAnswer(str(err)) from None
        reasoning = Reasoning(**parsed.reasoning.model_dump())
        judgements[name] = CategoryJudgement(decision=parsed.decision, reasoning=reasoning)
        spans += _spans(parsed.quotes, text, name)
    return judgements, spans


def _spans(quotes: list[str], text: str, category: str) -> list[EvidenceSpan]:
    """A span per quote: its exact first occurrence not yet taken, else one that differs only
    in case and runs of whitespace; overlapping spans merge (one annotator's spans of one
    category never overlap)."""
    found: list[tuple[int, int]] = []
    for quote in quotes:
        if not quote.strip():
            raise MalformedAnswer(f"{category}: an empty quote")
        exact = re.compile(re.escape(quote))
        loose = re.compile(r"\s+".join(map(re.escape, quote.split())), re.IGNORECASE)
        place = _first_free(exact, text, found) or _first_free(loose, text, found)
        if place is None:
            raise MalformedAnswer(f"{category}: the quote {quote[:80]!r} is not in the text")
        found.append(place)
    merged: list[list[int]] = []
    for start, end in sorted(found):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [EvidenceSpan(start=start, end=end, type=category) for start, end in merged]


def _first_free(pattern: re.Pattern, text: str, taken: list[tuple[int, int]]):
    return next((m.span() for m in pattern.finditer(text) if m.span() not in taken), None)


def _post(client: httpx.Client, endpoint: Endpoint, payload: dict) -> dict:
    """The endpoint's JSON response, retrying connection failures and 5xx answers."""
    url = endpoint.url.rstrip("/") + "/chat/completions"
    for attempt in range(endpoint.retries + 1):
        try:
            response = client.post(url, json=payload)
        except RETRIED as err:
            problem = f"cannot reach it ({type(err).__name__}: {err})"
        except httpx.TimeoutException:
            raise ModpipeError(f"{url}: no answer within {endpoint.timeout:g} s") from None
        else:
            if response.status_code < 500:
                break
            problem = f"HTTP {response.status_code}: {response.text[:200]}"
        if attempt == endpoint.retries:
            raise ModpipeError(f"{url}: {problem} (tried {attempt + 1} times)")
        time.sleep(RETRY_PAUSE * 2**attempt)
    if response.is_error:
        raise ModpipeError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
    try:
        return response.json()
    except ValueError:
        raise ModpipeError(f"{url}: the response is not JSON") from None


def _request(endpoint: Endpoint, policy: Policy, text: str) -> dict:
    messages = [{"role": "system", "content": policy.system}, {"role": "user", "content": text}]
    payload = {
        "model": endpoint.model,
        "messages": messages,
        "temperature": endpoint.temperature,
        "max_tokens": endpoint.max_tokens,
    }
    if endpoint.response_format == "json_schema":
        wanted = {"name": "judgement", "strict": True, "schema": policy.schema}
        payload["response_format"] = {"type": "json_schema", "json_schema": wanted}
    elif endpoint.response_format == "json_object":
        payload["response_format"] = {"type": "json_object"}
    return payload


def _message(body: dict, endpoint: Endpoint) -> tuple[str, str | None]:
    """The answer's text ("" where there is none) and why it ended."""
    try:
        choice = body["choices"][0]
        content = choice["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ModpipeError(f"{endpoint.url}: not an OpenAI-compatible chat response") from None
    return content if isinstance(content, str) else "", choice.get("finish_reason")


def draft_one(
    client: httpx.Client, endpoint: Endpoint, policy: Policy, item_id: str, text: str
) -> dict:
    """One item's draft: a rationale with the model's judgement, or the malformed answer."""
    started = time.perf_counter()
    body = _post(client, endpoint, _request(endpoint, policy, text))
    seconds = round(time.perf_counter() - started, 3)
    content, finish = _message(body, endpoint)
    try:
        if finish == "length":
            raise MalformedAnswer(f"cut off at max_tokens ({endpoint.max_tokens})")
        judged, spans = parse_answer(content, text, policy.categories)
    except MalformedAnswer as err:
        return {"id": item_id, "malformed": str(err), "answer": content[:ANSWER_KEPT]}
    judgement = Judgement(
        annotator=f"llm:{endpoint.model}",
        policy_version=policy.version,
        seconds=seconds,
        categories=judged,
        evidence=spans,
    )
    return {"id": item_id, "rationale": dump_rationale(Rationale(judgements=[judgement]))}


def draft_rationales(
    items: pd.DataFrame,
    taxonomy: Taxonomy,
    endpoint: Endpoint,
    policy_version: str,
    concurrency: int = 4,
    track: Track | None = None,
) -> list[dict]:
    """A draft per item (``id`` and ``text`` columns), in the items' order, ``concurrency``
    requests at a time. An endpoint that fails (unreachable, 4xx, 5xx after the retries)
    stops the whole run with a ModpipeError naming the item."""
    policy = Policy.of(taxonomy, policy_version)
    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    rows = list(zip(items["id"], items["text"], strict=True))
    drafts: list[dict | None] = [None] * len(rows)
    with (
        httpx.Client(timeout=endpoint.timeout, headers=headers) as client,
        ThreadPoolExecutor(max_workers=concurrency) as pool,
    ):
        futures = {
            pool.submit(draft_one, client, endpoint, policy, item_id, text): n
            for n, (item_id, text) in enumerate(rows)
        }
        done = as_completed(futures)
        try:
            for future in track(done, "drafting", len(rows)) if track else done:
                drafts[futures[future]] = future.result()
        except ModpipeError as err:
            pool.shutdown(cancel_futures=True)
            item_id = rows[futures[future]][0]
            raise ModpipeError(f"item {item_id!r}: {err}") from None
    return drafts


def write_drafts(drafts: list[dict], path: Path) -> None:
    """The drafts as JSON lines, written whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    lines = (json.dumps(draft, ensure_ascii=False) + "\n" for draft in drafts)
    partial.write_text("".join(lines), encoding="utf-8")
    partial.replace(path)


def read_drafts(path: Path) -> list[dict]:
    """Drafts as :func:`draft_rationales` writes them, each checked: an id, and either a
    rationale of one judgement (parsed) or a malformed answer; a ModpipeError names the draft."""
    drafts, seen = [], set()
    for number, record in enumerate(read_jsonl(path), start=1):
        where = f"{path}: draft {number}"
        item_id = record.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise ModpipeError(f"{where} has no id")
        if item_id in seen:
            raise ModpipeError(f"{where}: the id {item_id!r} repeats")
        seen.add(item_id)
        if ("rationale" in record) == ("malformed" in record):
            raise ModpipeError(f"{where} ({item_id!r}) needs a rationale or a malformed reason")
        if "rationale" in record:
            try:
                rationale = parse_rationale(record["rationale"])
            except ValueError as err:
                raise ModpipeError(f"{where} ({item_id!r}): {err}") from None
            if len(rationale.judgements) != 1:
                raise ModpipeError(f"{where} ({item_id!r}): a draft holds one judgement")
            record = {**record, "rationale": rationale}
        drafts.append(record)
    if not drafts:
        raise ModpipeError(f"{path}: no drafts")
    return drafts
