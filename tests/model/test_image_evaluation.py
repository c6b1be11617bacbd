"""The evaluate stage's image rows: rendered test posts read by OCR and scored by the text model,
beside the same rows scored by their own text; and the rule that makes an image's scores of its
text, its NSFW score and the known images it copies."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from tiny_bento import TAXONOMY, THRESHOLDS, tiny_model

from components.config import EvaluateConfig, PipelineConfig
from components.data.canonical import (
    Category,
    DatasetCard,
    Taxonomy,
    label_column,
    read_dataset,
    write_dataset,
)
from components.data.rendered import write_image_eval_set
from components.data.split import split_frames
from components.model.image_scoring import score_image_findings
from components.model.metrics import compute_metrics, flat_metrics, label_matrix
from components.model.modeling import TINY_BASE_MODEL, ModerationModel, build_classifier
from components.model.vision.analyse import ImageAnalyzer, ImageFindings
from components.model.vision.known import KnownImageMatch
from components.stages.evaluate import image_evaluation

pytestmark = pytest.mark.slow

# Short posts in plain words, so OCR reads them whatever the picture looks like.
POSTS = {
    "p0": "pay me now or else",
    "p1": "lovely weather for a walk",
    "p2": "you absolute clown",
    "p3": "see you at noon",
}
LABELS = {"insult": [0, 0, 1, 0], "threat": [1, 0, 0, 0], "scam": [1, 0, 0, 1]}


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    """A split dataset whose test split has four rows with a rendered picture and one without."""
    folder = tmp_path_factory.mktemp("splits")
    frame = pd.DataFrame(
        {
            "id": [*POSTS, "plain"],
            "text": [*POSTS.values(), "a row with no picture"],
            "source": "tests",
            "split": "test",
            **{
                label_column(name): pd.array([*labels, 0], dtype="Int8")
                for name, labels in LABELS.items()
            },
        }
    )
    rendered = write_image_eval_set(frame.iloc[:4], folder, n=4, seed=0)
    frame["image"] = None
    frame.loc[rendered.index, "image"] = rendered["image"]
    write_dataset(
        folder, DatasetCard(name="images", source="tests", **TAXONOMY.model_dump()), frame
    )
    return folder


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def test_split(splits):
    return split_frames(read_dataset(splits)[1])["test"]


@pytest.fixture(scope="module")
def read_texts(splits, test_split):
    """What OCR reads in each image row's picture, in row order."""
    rows = test_split[test_split["image"].notna()]
    images = [Image.open(splits / image) for image in rows["image"]]
    return [found.text for found in ImageAnalyzer(None).analyse_many(images)]


def test_image_rows_are_scored_by_the_text_read_in_their_pictures(
    splits, test_split, model, read_texts, tmp_path
):
    metrics = image_evaluation(PipelineConfig(), model, None, test_split, splits)

    assert metrics["rows"] == 4  # the row without a picture is left out
    for text, read in zip(POSTS.values(), read_texts, strict=True):
        assert text.replace(" ", "") in "".join(read.lower().split())  # OCR may drop a space
    rows = test_split[test_split["image"].notna()]
    y_true = label_matrix(rows, model.categories)
    through_ocr = model.predict_scores(read_texts)
    assert metrics["image"] == compute_metrics(y_true, through_ocr, model.categories, THRESHOLDS)
    by_text = model.predict_scores(rows["text"].tolist())
    assert metrics["text"] == compute_metrics(y_true, by_text, model.categories, THRESHOLDS)
    assert metrics["flags_by_input"]["nsfw"] == metrics["flags_by_input"]["known"] == 0
    assert metrics["flags_by_input"]["text"] == int(
        (through_ocr >= [THRESHOLDS[name] for name in model.categories]).sum()
    )
    assert 0 <= metrics["ocr_character_error"] < 0.2
    flat = flat_metrics({"per_category": {}, "macro": {}, "images": metrics})
    assert flat["test.images.rows"] == 4.0
    assert {"test.images.image.macro.f1", "test.images.text.scam.pr_auc"} <= set(flat)


def test_no_image_rows_or_images_off_add_nothing(splits, test_split, model, tmp_path):
    without = test_split[test_split["image"].isna()]
    assert image_evaluation(PipelineConfig(), model, None, without, splits) is None
    off = PipelineConfig(evaluate=EvaluateConfig(images=False))
    assert image_evaluation(off, model, None, test_split, splits) is None


def test_an_image_scores_the_highest_of_its_text_nsfw_and_known_matches():
    taxonomy = Taxonomy(
        categories=[
            Category(name="insult", description="Insults a person."),
            Category(name="sexual", description="Sexual content."),
        ]
    )
    classifier, tokenizer = build_classifier(TINY_BASE_MODEL, taxonomy, seed=0)
    model = ModerationModel(classifier, tokenizer, taxonomy, TINY_BASE_MODEL, 32, {})
    findings = [
        ImageFindings(text="buy now", nsfw=0.0, known=[]),
        ImageFindings(text="", nsfw=0.97, known=[]),
        ImageFindings(
            text=" ",
            nsfw=None,
            known=[
                KnownImageMatch(id="k1", category="insult", distance=3),
                KnownImageMatch(id="k2", category="weapons", distance=1),  # not the model's
            ],
        ),
    ]

    scored = score_image_findings(model, findings)

    read = model.predict_scores(["buy now"])[0]
    np.testing.assert_allclose(scored.scores[0], read, rtol=1e-6)
    np.testing.assert_allclose(scored.scores[1:], [[0.0, 0.97], [1.0, 0.0]])
    assert scored.inputs.tolist() == [["text", "text"], ["text", "nsfw"], ["known", "text"]]
