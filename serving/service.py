"""The moderation HTTP service: ``POST /moderate`` flags texts per category and ``POST /rank``
orders items for a review queue; concurrent requests share model calls (serving.batching).
A text longer than the model's window is scored whole, over overlapping windows.

Which BentoML model it serves: the tag in ``$MODPIPE_MODEL_TAG`` if set, else the one the bento
was built around (the ``model_tag`` bento argument that the package step records), else the
latest ``moderation-classifier``. Its limits and options are the bento's ``serving`` argument
with ``MODPIPE_SERVE_<NAME>`` variables on top (serving.settings). The model loads once per
worker, on ONNX Runtime (the package step's export) or torch, as ``backend`` says; BentoML
provides ``/livez``, ``/readyz`` and Prometheus ``/metrics``.

``/moderate`` takes OpenAI omni-moderation's content parts too: texts and ``image_url`` parts
in one list, with one result for them all. Each category takes the highest score of any part;
an image scores by the text read in it (OCR, then the text model, in the same batches as the
texts), by the NSFW classifier for ``sexual``, and 1.0 for a copy of one of the model's known
images (listed in ``known_images``). Each result says in ``category_applied_input_types`` which
input types each category's decision came from. Images are decoded by the guard and analysed
on a bounded pool of their own (serving.images), so they never hold up text requests.

Before BentoML sees a request, the guard (serving.guard) checks and validates it strictly,
sheds load past each worker's budget and holds it to a deadline (serving.admission); the
connections themselves are limited below BentoML (serving.connections).

With the ``matches`` setting on, ``/moderate``'s results also list the known violations (the index
packaged in the model's folder) that each text is as similar to as a category's cut-off or more,
and those flag their categories (serving.matches); ``category_scores`` stay the classifier's and
``/rank`` is unchanged. Texts are embedded in the same forward pass that scores them. A served
model without an index starts without matches (a warning in the log); an index that cannot be
used (another encoder's) stops the server with one line in the log.

With the ``evidence`` setting on (the default), each ``/moderate`` result also carries, per
category the classifier flagged, the spans of the text that carry the decision
(serving.evidence).
"""

import asyncio
import logging
import os
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn

# oneDNN compiles and keeps a primitive per tensor shape (1,024 of them by default), and texts of
# every length keep making new shapes: under load a worker grew ~1.5 MiB/s for minutes. 16 holds
# memory flat at the same speed (BENCHMARKS.md). Read when torch first runs oneDNN.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")

import bentoml
import numpy as np
import torch

from components.errors import ModpipeError
from components.model.image_scoring import combine_image_scores, read_rows
from components.model.modeling import ModerationModel, read_model_card, sigmoid
from components.model.neighbours import INDEX_DIR
from components.model.onnx_runtime import ONNX_DIR
from components.model.vision.analyse import ImageAnalyzer
from components.model.vision.known import KNOWN_IMAGES_FILE, KnownImageMatch, KnownImages
from serving.admission import Admission
from serving.batching import MicroBatcher
from serving.connections import ConnectionLimits, bentoml_paths, install
from serving.evidence import Evidence, Explainer, merged
from serving.guard import RequestGuard
from serving.images import IMAGES_STATE, ImageIntake
from serving.matches import Match, Matcher
from serving.schema import (
    BENTO_ARGUMENTS,
    IMAGE,
    INPUT_TYPES,
    SETTINGS,
    TEXT,
    ModerationRequest,
    ModerationResponse,
    ModerationResult,
    RankedItem,
    RankItem,
    RankRequest,
    RankResponse,
    TextPart,
    input_kind_of,
)
from serving.settings import (
    BENTO_MODEL_NAME,
    MODEL_SUBDIR,
    MODEL_TAG_ARGUMENT,
    MODEL_TAG_ENV,
    threads_per_worker,
)

TOKENIZE_SLICE = 16  # texts tokenised in one go
# Under BentoML's logger, so the server's logging config (INFO, its format) applies to it.
log = logging.getLogger("bentoml.moderation.service")
# Decoded and analysed images, beside the text model's threads (serving.images).
IMAGE_POOL = ThreadPoolExecutor(max_workers=SETTINGS.image_threads, thread_name_prefix="images")


def served_model_tag() -> str:
    bento_argument = getattr(BENTO_ARGUMENTS, MODEL_TAG_ARGUMENT, None)
    return os.environ.get(MODEL_TAG_ENV) or bento_argument or f"{BENTO_MODEL_NAME}:latest"


SERVED_MODEL = bentoml.models.BentoModel(served_model_tag())
# BentoML's own timeout (a 504 too) must never come before the guard's.
TRAFFIC_TIMEOUT_S = SETTINGS.body_timeout_s + SETTINGS.request_timeout_s + 30


@bentoml.service(
    name="moderation", workers=SETTINGS.workers, traffic={"timeout": TRAFFIC_TIMEOUT_S}
)
class ModerationService:
    bento_model = SERVED_MODEL

    def __init__(self) -> None:
        torch.set_num_threads(threads_per_worker(SETTINGS.workers))
        stored = self.bento_model
        self.model_tag = str(stored.tag)
        folder = stored.path_of(MODEL_SUBDIR)
        self.model = self.load_model(folder)
        self.model_version = stored.info.labels.get("model_version")
        self.dataset_version = stored.info.labels.get("dataset_version")
        self.thresholds = {
            c.name: self.model.thresholds.get(c.name, c.threshold)
            for c in self.model.taxonomy.categories
        }
        self.matcher = self.load_matcher(folder) if SETTINGS.matches else None
        self.analyzer = self.load_analyzer(folder) if SETTINGS.images else None
        # Texts are normalised and cut into windows off the event loop (a long text takes a
        # while), and the windows of every request share the model's batches: with matches,
        # each window's row holds its logits and then its pooled vector, from the same pass.
        self.tokenizing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tokenize")
        predict = self.logits_and_vectors if self.matcher else self.model.score_windows
        self.window_rows = MicroBatcher(predict, SETTINGS.max_batch_size)
        self.matching = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matches")
        self.explainer = Explainer(self.model, SETTINGS, self.text_scores)

    def load_model(self, model_folder: str) -> ModerationModel:
        """The model on the configured backend; ONNX Runtime falls back to torch for a model
        packaged before the package step exported it."""
        backend = SETTINGS.backend
        if backend == "onnx" and not (Path(model_folder) / ONNX_DIR).is_dir():
            log.warning(
                "%s has no ONNX export (%s/): serving it with torch", self.model_tag, ONNX_DIR
            )
            backend = "torch"
        model = ModerationModel.load(
            model_folder,
            backend=backend,
            int8=SETTINGS.quantize,
            threads=threads_per_worker(SETTINGS.workers),
        )
        log.info("the text model runs on %s%s", backend, " int8" if SETTINGS.quantize else "")
        return model

    def load_matcher(self, model_folder: str) -> Matcher | None:
        """The served model's known violations; without an index the service starts without
        matches (and says so), with one it cannot use it does not start."""
        try:
            matcher = Matcher.load(
                model_folder,
                self.model.encoder_id,
                self.model.categories,
                SETTINGS,
                threads_per_worker(SETTINGS.workers),
            )
        except Exception as err:  # ModpipeError, or faiss or Qdrant failing to read the index
            refuse_to_start(f"matches are on but {self.model_tag} cannot serve them: {err}")
        if matcher is None:
            log.warning(
                "matches are off: the model %s has no known-violation index (%s/)",
                self.model_tag,
                INDEX_DIR,
            )
        else:
            log.info("matches on: %d known violations, cut-offs %s", len(matcher), matcher.cutoffs)
        return matcher

    def load_analyzer(self, model_folder: str) -> ImageAnalyzer:
        """OCR, NSFW and the model's known images (when it was packaged with a list)."""
        listed = Path(model_folder) / KNOWN_IMAGES_FILE
        known = KnownImages.load(listed) if listed.is_file() else None
        log.info("images on: %d known images", len(known) if known else 0)
        return ImageAnalyzer(known, threads=1)

    def logits_and_vectors(self, input_ids: list[list[int]]) -> np.ndarray:
        """[windows, k + dim]: each window's logits, then its pooled last hidden state."""
        return np.hstack(self.model.forward_windows(input_ids, embed=True))

    @bentoml.api(input_spec=ModerationRequest)
    async def moderate(
        self, input: list, thresholds: dict[str, float] | None, ctx: bentoml.Context
    ) -> ModerationResponse:
        """Flag each text per category, or content parts (texts and images) as one; the
        ``thresholds`` override the model's own cut-offs."""
        cutoffs = self.cutoffs(thresholds or {})
        if input_kind_of(input) == "parts":
            images = getattr(ctx.request.state, IMAGES_STATE, [])  # decoded by the guard
            results = [await self.moderate_parts(input, images, cutoffs)]
            return ModerationResponse(**self.answer("modr"), results=results)
        scores, vectors = await self.scores(input)
        found = await self.matches(vectors) if self.matcher else [None] * len(scores)
        explained = await self.explainer(input, scores, cutoffs) if SETTINGS.evidence else None
        results = [
            self.result(
                {TEXT: row},
                None if matches is None else {TEXT: matches},
                None,
                cutoffs,
                None if explained is None else explained[i],
            )
            for i, (row, matches) in enumerate(zip(scores, found, strict=True))
        ]
        return ModerationResponse(**self.answer("modr"), results=results)

    async def moderate_parts(
        self, parts: list, images: list, cutoffs: dict[str, float]
    ) -> ModerationResult:
        """One result for a request's texts and images: per category, each input type's
        highest score (an image's as components.model.image_scoring combines them)."""
        texts = [part.text for part in parts if isinstance(part, TextPart)]
        loop = asyncio.get_running_loop()
        findings = []
        if images:
            findings = await loop.run_in_executor(IMAGE_POOL, self.analyzer.analyse_many, images)
        read = read_rows(findings)
        k = len(self.model.categories)
        scored = texts + [findings[row].text for row in read]
        nothing = (np.zeros((0, k)), None)
        scores, vectors = await self.scores(scored) if scored else nothing
        by_type = {TEXT: scores[: len(texts)].max(axis=0)} if texts else {}
        if images:
            read_scores = np.zeros((len(findings), k))
            read_scores[read] = scores[len(texts) :]
            combined = combine_image_scores(read_scores, findings, self.model.categories)
            by_type[IMAGE] = combined.scores.max(axis=0)
        matches = None
        if self.matcher:
            found = await self.matches(vectors) if vectors is not None else []
            matches = {TEXT: flat(found[: len(texts)]), IMAGE: flat(found[len(texts) :])}
        known = [match for found in findings for match in found.known] if images else None
        evidence = None
        if SETTINGS.evidence:
            at = [i for i, part in enumerate(parts) if isinstance(part, TextPart)]
            evidence = merged(await self.explainer(texts, scores[: len(texts)], cutoffs, at))
        return self.result(by_type, matches, known, cutoffs, evidence)

    @bentoml.api(input_spec=RankRequest)
    async def rank(
        self, items: list[RankItem], thresholds: dict[str, float] | None
    ) -> RankResponse:
        """The items ordered by risk, highest first (ties keep their order), for review."""
        cutoffs = np.array(list(self.cutoffs(thresholds or {}).values()))
        scores, _ = await self.scores([item.text for item in items])
        top = scores.argmax(axis=1)
        risk = scores[np.arange(len(items)), top]
        ranked = [
            RankedItem(
                id=items[i].id,
                score=float(risk[i]),
                category=self.model.categories[top[i]],
                flagged=bool((scores[i] >= cutoffs).any()),
            )
            for i in np.argsort(-risk, kind="stable")
        ]
        return RankResponse(**self.answer("rank"), results=ranked)

    async def scores(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Sigmoid scores, one row per text, one column per category in the model's order: each
        the highest over the text's windows; with matches, also the texts' embeddings (their
        windows' vectors averaged). Texts are tokenised a slice at a time, so that a request
        dropped half-way (its client gone, its deadline past) stops there."""
        slices = [texts[i : i + TOKENIZE_SLICE] for i in range(0, len(texts), TOKENIZE_SLICE)]
        parts = await asyncio.gather(*map(self.slice_scores, slices))
        scores = np.concatenate([scores for scores, _ in parts])
        return scores, np.concatenate([vectors for _, vectors in parts]) if self.matcher else None

    async def text_scores(self, texts: list[str]) -> np.ndarray:
        return (await self.scores(texts))[0]

    async def slice_scores(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
        loop = asyncio.get_running_loop()
        windows = await loop.run_in_executor(self.tokenizing, self.model.windows, texts)
        rows = await self.window_rows(windows.input_ids)
        k = len(self.model.categories)
        scores = sigmoid(windows.pool(rows[:, :k]))
        return scores, windows.mean(rows[:, k:]) if self.matcher else None

    async def matches(self, vectors: np.ndarray) -> list[list[Match]]:
        """Each text's matches, searched off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(
            self.matching, self.matcher, vectors
        )

    def answer(self, kind: str) -> dict:
        return {
            "id": f"{kind}-{uuid.uuid4().hex}",
            "model": self.model_tag,
            "model_version": self.model_version,
            "dataset_version": self.dataset_version,
        }

    def cutoffs(self, overrides: dict[str, float]) -> dict[str, float]:
        """The thresholds in the model's category order, with the request's overrides (the
        guard has refused names that are not categories)."""
        return {name: overrides.get(name, cutoff) for name, cutoff in self.thresholds.items()}

    def result(
        self,
        by_type: dict[str, np.ndarray],
        matches: dict[str, list[Match]] | None,
        known: list[KnownImageMatch] | None,
        cutoffs: dict[str, float],
        evidence: dict[str, list[Evidence]] | None = None,
    ) -> ModerationResult:
        """The flags of one input from each input type's scores: a score past its cut-off, or
        a known violation of the category that a text matches (of each input type: a text part,
        or the text read in an image). A category's applied input types are those that flagged
        it or, when none did, the one that scored it highest. Every flagged category has an
        ``evidence`` list (when given): empty where a match or an image flagged it."""
        flagged_by = {
            name: [kind for kind, scores in by_type.items() if scores[i] >= cutoffs[name]]
            for i, name in enumerate(self.model.categories)
        }
        for kind, found in (matches or {}).items():
            for match in found:
                if kind not in flagged_by[match.category]:
                    flagged_by[match.category].append(kind)
        kinds, stacked = list(by_type), np.stack(list(by_type.values()))
        scores, top = stacked.max(axis=0), stacked.argmax(axis=0)
        named = {name: float(s) for name, s in zip(self.model.categories, scores, strict=True)}
        return ModerationResult(
            flagged=any(flagged_by.values()),
            categories={name: bool(sources) for name, sources in flagged_by.items()},
            category_scores=named,
            category_applied_input_types={
                name: sorted(flagged_by[name], key=INPUT_TYPES.index) or [kinds[top[i]]]
                for i, name in enumerate(self.model.categories)
            },
            matches=None if matches is None else by_similarity(matches),
            known_images=known,
            evidence=None
            if evidence is None
            else {name: evidence.get(name, []) for name, kinds in flagged_by.items() if kinds},
        )


def flat(lists: list[list[Match]]) -> list[Match]:
    return [match for found in lists for match in found]


def by_similarity(matches: dict[str, list[Match]]) -> list[Match]:
    """Every input type's matches, the most similar first."""
    return sorted((m for found in matches.values() for m in found), key=lambda m: -m.similarity)


def refuse_to_start(message: str) -> NoReturn:
    """Log ``message`` and stop `bentoml serve`: a worker that raised would be started again and
    again by BentoML's process manager, each time logging a traceback."""
    if bentoml.server_context.worker_index is None:  # not a worker of `bentoml serve`
        raise ModpipeError(message)
    log.error(message)
    logging.shutdown()  # flush it: the exit below skips the interpreter's clean-up
    os.kill(os.getppid(), signal.SIGTERM)  # the process manager, which stops every worker
    os._exit(3)  # uvicorn's exit code for a failed start-up


def guard_requests(service: type) -> None:
    """The guard and the connection limits, from SETTINGS and the served model's card."""
    card = read_model_card(SERVED_MODEL.resolve().path_of(MODEL_SUBDIR))
    # A window of the model holds max_length tokens, 3/4 of them new: about 3 characters each.
    admission = Admission(
        budget=SETTINGS.max_texts_in_flight,
        chars_per_unit=3 * card.max_length,
        retry_after_s=SETTINGS.retry_after_s,
        deadline_s=SETTINGS.request_timeout_s,
    )
    routes = {"/moderate": ModerationRequest, "/rank": RankRequest}
    service.add_asgi_middleware(
        RequestGuard,
        routes=routes,
        context={"categories": [c.name for c in card.categories]},
        max_body_bytes=SETTINGS.body_limit,
        body_timeout_s=SETTINGS.body_timeout_s,
        admission=admission,
        prepare=ImageIntake(SETTINGS, IMAGE_POOL).prepare,
    )
    install(
        ConnectionLimits(
            max_header_bytes=SETTINGS.max_header_bytes,
            max_headers=SETTINGS.max_headers,
            header_timeout_s=SETTINGS.header_timeout_s,
            max_connections=SETTINGS.max_connections,
            known_paths=bentoml_paths() | set(routes),
        )
    )


guard_requests(ModerationService)
