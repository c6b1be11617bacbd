# The image every pipeline step runs in on a Kubeflow cluster (`modpipe compile --image ...`).
# Build and push it where your cluster can pull it:
#   docker build -t registry.example.org/moderation-pipeline:0.1.0 . && docker push ...
# GPU nodes: swap the torch line for a CUDA build (e.g. the cu124 index) of the same version.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false BENTOML_DO_NOT_TRACK=true
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY components components
COPY workflows workflows
COPY serving serving
COPY configs configs
RUN pip install -e .
