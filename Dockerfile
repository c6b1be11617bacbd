# The image every pipeline step runs in on a Kubeflow cluster (`modpipe compile --image ...`).
# A step needs nothing else from a checkout: its data comes from DVC (repo URL + rev + path),
# its outputs go to KFP artifacts, MLflow and the bento/checkpoint stores.
#
#   CPU:  docker build -t registry.example.org/moderation-pipeline:0.1.0 .
#   GPU:  docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128 \
#           -t registry.example.org/moderation-pipeline:0.1.0-cuda .
# The CUDA wheels carry their own CUDA runtime; the node provides the NVIDIA driver. The presets
# request GPUs (`resources.gpus`), so point GPU runs at the -cuda image:
#   modpipe run --host URL --image registry.example.org/moderation-pipeline:0.1.0-cuda
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false BENTOML_DO_NOT_TRACK=true
# git: DVC reads the dataset's .dvc file from its repository at the run's rev.
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN pip install torch==2.13.0 --index-url ${TORCH_INDEX}
COPY pyproject.toml README.md ./
COPY components components
COPY workflows workflows
COPY serving serving
COPY configs configs
RUN pip install -e .
