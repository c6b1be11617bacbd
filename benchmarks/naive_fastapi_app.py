"""The alternative a user would write without a serving framework: FastAPI calling the model once
per request, no batching. Served by benchmarks/serving_benchmark.py as case (c):

    MODPIPE_MODEL_DIR=<saved model folder> uvicorn benchmarks.naive_fastapi_app:app
"""

import os

from fastapi import FastAPI
from pydantic import BaseModel

from components.model.modeling import ModerationModel

model = ModerationModel.load(os.environ["MODPIPE_MODEL_DIR"], device="cpu")
app = FastAPI()


class ModerationRequest(BaseModel):
    input: str | list[str]


@app.post("/moderate")
def moderate(request: ModerationRequest) -> dict:
    texts = [request.input] if isinstance(request.input, str) else request.input
    scores = model.predict_scores(texts)
    results = []
    for row in scores:
        named = {name: float(s) for name, s in zip(model.categories, row, strict=True)}
        flags = {name: s >= model.thresholds[name] for name, s in named.items()}
        results.append(
            {"flagged": any(flags.values()), "categories": flags, "category_scores": named}
        )
    return {"results": results}
