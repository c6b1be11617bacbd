"""The ONNX Runtime backend on the tiny model: exported once, its fp32 graph scores and embeds as
torch does (a long text's windows and an empty text included), its int8 graph runs, the
embedding space keeps its name, and a folder without an export is refused. Then the package
step's export, on a copy of the model, with its parity figures in MLflow."""

import json
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from tiny_bento import TAXONOMY, tiny_model

from components.config import OnnxConfig, PipelineConfig
from components.data.canonical import DatasetCard, label_column, write_dataset
from components.errors import ModpipeError
from components.model.modeling import ModerationModel
from components.model.onnx_export import FP32_TOLERANCE, check_parity, export_onnx
from components.model.onnx_runtime import (
    FP32_FILE,
    INT8_FILE,
    ONNX_DIR,
    PARITY_FILE,
    read_onnx_manifest,
)
from components.registry.tracking import setup_tracking
from components.stages.package import with_onnx_export

pytestmark = pytest.mark.slow

LONG = " ".join(f"word{i} and some more words in a very long text" for i in range(40))
TEXTS = ["", "you are an idiot", "Have a lovely day!", "ünïcödé 🙂 tëxt", LONG, "ok"]


@pytest.fixture(scope="module", params=["first_token", "mean"])
def model_dir(tmp_path_factory, request):
    """The tiny model, its head reading the first token or the mean of the tokens."""
    directory = tmp_path_factory.mktemp("onnx") / "model"
    model = tiny_model(request.param)
    model.save(directory)
    export_onnx(model, directory)
    return directory


@pytest.fixture(scope="module")
def torch_model(model_dir):
    return ModerationModel.load(model_dir, device="cpu")


def test_the_fp32_graph_computes_what_torch_does(model_dir, torch_model):
    onnx_model = ModerationModel.load(model_dir, backend="onnx", threads=1)
    windows = torch_model.windows(TEXTS)
    assert len(windows.input_ids) > len(TEXTS) + 3  # the long text fills several windows
    expected = torch_model.forward_windows(windows.input_ids, embed=True)
    got = onnx_model.forward_windows(windows.input_ids, embed=True)
    for name, want, have in zip(("logits", "pooled"), expected, got, strict=True):
        assert have.shape == want.shape, name
        assert np.abs(have - want).max() <= FP32_TOLERANCE, name
    logits_only, no_vectors = onnx_model.forward_windows(windows.input_ids[:1], embed=False)
    assert logits_only.shape == (1, 3) and no_vectors.shape == (1, 0)
    # ORT fused each of the two layers' attention: the speed-up depends on it.
    assert read_onnx_manifest(model_dir).fused_operators["Attention"] == 2


def test_whole_texts_score_and_embed_alike(model_dir, torch_model):
    onnx_model = ModerationModel.load(model_dir, backend="onnx")
    scores, vectors = torch_model.predict_with_embeddings(TEXTS, batch_size=4)
    onnx_scores, onnx_vectors = onnx_model.predict_with_embeddings(TEXTS, batch_size=4)
    assert np.abs(onnx_scores - scores).max() <= FP32_TOLERANCE
    assert np.abs(onnx_vectors - vectors).max() <= FP32_TOLERANCE
    assert onnx_model.embedding_dim == torch_model.embedding_dim == vectors.shape[1]


def test_the_int8_graph_runs_and_is_smaller(model_dir, torch_model):
    int8_model = ModerationModel.load(model_dir, backend="onnx", int8=True)
    scores = int8_model.predict_scores(TEXTS)
    assert scores.shape == (len(TEXTS), 3)
    assert np.all((scores >= 0) & (scores <= 1))
    folder = model_dir / ONNX_DIR
    assert (folder / INT8_FILE).stat().st_size < (folder / FP32_FILE).stat().st_size / 2


def test_the_embedding_space_keeps_its_name_on_every_backend(model_dir, torch_model):
    names = {
        ModerationModel.load(model_dir, backend="onnx").encoder_id,
        ModerationModel.load(model_dir, backend="onnx", int8=True).encoder_id,
        ModerationModel.load(model_dir, device="cpu", int8=True).encoder_id,
    }
    assert names == {torch_model.encoder_id}


def test_parity_is_written_with_the_int8_pr_auc_change(model_dir):
    labels = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1]], float)
    result = check_parity(model_dir, TEXTS, labels, batch_size=4)
    assert result["texts"] == len(TEXTS)
    assert result["fp32"]["max_score_diff"] <= FP32_TOLERANCE
    change = result["int8"]["macro_pr_auc"] - result["torch"]["macro_pr_auc"]
    assert result["int8"]["macro_pr_auc_change"] == pytest.approx(change)
    written = json.loads((model_dir / ONNX_DIR / PARITY_FILE).read_text())
    assert written == result


def test_an_fp32_graph_that_scores_otherwise_is_refused(model_dir, tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    shutil.copy(broken / ONNX_DIR / INT8_FILE, broken / ONNX_DIR / FP32_FILE)
    with pytest.raises(ModpipeError, match="fp32 ONNX graph scores up to"):
        check_parity(broken, TEXTS)


def test_a_folder_without_an_export_is_refused(tmp_path):
    folder = tmp_path / "model"
    tiny_model().save(folder)
    with pytest.raises(ModpipeError, match="re-package") as refused:
        ModerationModel.load(folder, backend="onnx")
    assert str(folder) in str(refused.value)
    with pytest.raises(ModpipeError, match="backend 'tensorrt'"):
        ModerationModel.load(folder, backend="tensorrt")


@pytest.fixture
def splits(tmp_path):
    """A split dataset: a few train rows, and test rows with every category's both labels."""
    labels = {
        "insult": [1, 0, 1, 0, 0, 1],
        "threat": [0, 1, 0, 1, 0, 1],
        "scam": [0, 0, 1, 1, 1, 0],
    }
    frame = pd.DataFrame(
        {
            "id": [f"row-{i}" for i in range(len(TEXTS) + 2)],
            "text": [*TEXTS, "train me", "and me"],
            "source": "tests",
            "split": ["test"] * len(TEXTS) + ["train"] * 2,
            **{label_column(c): pd.array([*v, 0, 1], dtype="Int8") for c, v in labels.items()},
        }
    )
    card = DatasetCard(name="splits", source="tests", **TAXONOMY.model_dump())
    write_dataset(tmp_path / "splits", card, frame)
    return tmp_path / "splits"


def test_the_package_step_exports_a_copy_and_logs_parity(splits, tmp_path, monkeypatch):
    model_dir = tmp_path / "evaluated"
    tiny_model().save(model_dir)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    config = PipelineConfig(onnx=OnnxConfig(parity_texts=5))
    setup_tracking(uri)  # a store and experiment an earlier test set in-process would win
    try:
        with mlflow.start_run() as run:
            packaged = with_onnx_export(config, model_dir, splits, tmp_path / "staging")
    finally:
        mlflow.set_tracking_uri(None)
    assert (packaged / ONNX_DIR / INT8_FILE).is_file()
    assert not (model_dir / ONNX_DIR).exists()  # the evaluated model's folder is left alone
    client = MlflowClient(tracking_uri=uri)
    metrics = client.get_run(run.info.run_id).data.metrics
    assert metrics["onnx.parity_texts"] == 5
    assert metrics["onnx.fp32.max_score_diff"] <= FP32_TOLERANCE
    assert "onnx.int8.macro_pr_auc_change" in metrics
    logged = [a.path for a in client.list_artifacts(run.info.run_id, ONNX_DIR)]
    assert logged == [f"{ONNX_DIR}/{PARITY_FILE}"]
