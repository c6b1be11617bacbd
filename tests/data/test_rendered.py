"""Rendered posts and perturbed copies (the image evaluation set), and canonical rows that
reference an image: only relative paths to files inside the dataset folder are taken."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from components.data.canonical import (
    check_images,
    image_path,
    read_dataset,
    write_dataset,
)
from components.data.rendered import (
    IMAGES_DIR,
    MAX_RENDERED_CHARS,
    perturb,
    render_post,
    write_image_eval_set,
)
from components.data.validate import ValidationSettings, validate_dataset
from components.errors import ModpipeError

POST = "I know where you live and I am going to find you tonight."


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_a_post_renders_the_same_picture_for_the_same_seed():
    first, again = render_post(POST, seed=3), render_post(POST, seed=3)
    assert first.mode == "RGB" and first.format == "JPEG"
    np.testing.assert_array_equal(pixels(first), pixels(again))
    others = [render_post(POST, seed=seed) for seed in range(4, 12)]
    assert len({image.size for image in others}) > 1  # fonts, sizes and wrapping vary


def test_a_post_keeps_its_own_line_breaks():
    one_line, two_lines = render_post("hello there", seed=5), render_post("hello\nthere", seed=5)
    assert two_lines.height > one_line.height
    assert two_lines.width < one_line.width


def test_a_perturbed_copy_is_resized_cropped_and_deterministic():
    original = render_post(POST, seed=1)
    copies = [perturb(original, seed) for seed in range(10)]
    np.testing.assert_array_equal(pixels(copies[0]), pixels(perturb(original, 0)))
    for copy in copies:
        assert 0.5 * 0.9 - 0.01 <= copy.width / original.width <= 1.5 + 0.01
        assert copy.format == "JPEG"
    assert len({copy.size for copy in copies}) == len(copies)


def rows(ids: list[str], texts: list[str]) -> pd.DataFrame:
    labels = pd.array([i % 2 for i in range(len(ids))], dtype="Int8")
    return pd.DataFrame({"id": ids, "text": texts, "source": "test", "label_spam": labels})


def test_the_eval_set_renders_rows_into_the_dataset_folder(tmp_path, make_dataset):
    card, _ = make_dataset(["x"])
    frame = rows(
        ["a1", "b/2", "c3", "long"],
        ["first post", "second post", "third post", "word " * MAX_RENDERED_CHARS],
    )
    rendered = write_image_eval_set(frame, tmp_path, n=10, seed=0)

    assert sorted(rendered["id"]) == ["a1", "b/2", "c3"]  # too long to be a screenshot: left out
    assert rendered.loc[rendered["id"] == "a1", "image"].item() == f"{IMAGES_DIR}/a1.jpg"
    unsafe = rendered.loc[rendered["id"] == "b/2", "image"].item()
    assert unsafe.startswith(f"{IMAGES_DIR}/") and "/" not in unsafe.removeprefix(IMAGES_DIR + "/")
    write_dataset(tmp_path, card, rendered)
    _, read = read_dataset(tmp_path)
    check_images(tmp_path, read)
    assert read["image"].tolist() == rendered["image"].tolist()
    write_image_eval_set(frame, tmp_path / "again", n=10, seed=0)
    for image in rendered["image"]:
        assert (tmp_path / image).read_bytes() == (tmp_path / "again" / image).read_bytes()


def test_a_rewritten_dataset_carries_its_images(tmp_path, make_dataset):
    card, _ = make_dataset(["x"])
    frame = rows(["a", "b"], ["one post", "another post"])
    rendered = write_image_eval_set(frame, tmp_path / "source", n=1, seed=0)
    frame.loc[rendered.index, "image"] = rendered["image"]
    write_dataset(tmp_path / "source", card, frame)

    write_dataset(tmp_path / "split", card, frame, images_from=tmp_path / "source")

    check_images(tmp_path / "split", read_dataset(tmp_path / "split")[1])
    assert (tmp_path / "split" / rendered["image"].item()).is_file()


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("/etc/passwd", "must be a relative path"),
        ("C:/pictures/a.jpg", "must be a relative path"),
        ("images\\a.jpg", "must be a relative path"),
        ("../outside.jpg", "points outside the dataset folder"),
        ("images/../../outside.jpg", "points outside the dataset folder"),
        ("images/linked.jpg", "points outside the dataset folder"),
        ("images/missing.jpg", "no such file in the dataset folder"),
        ("images", "no such file in the dataset folder"),
        ("", "is not a path"),
    ],
)
def test_a_bad_image_path_is_refused_naming_the_row(tmp_path, image, problem):
    folder = tmp_path / "dataset"
    (folder / "images").mkdir(parents=True)
    (tmp_path / "outside.jpg").write_bytes(b"not inside")
    (folder / "images" / "linked.jpg").symlink_to(tmp_path / "outside.jpg")
    with pytest.raises(ModpipeError, match=problem) as refused:
        image_path(folder, "row-7", image)
    assert "row 'row-7'" in str(refused.value)


def test_validation_refuses_a_dataset_whose_row_misses_its_image(tmp_path, make_dataset):
    card, frame = make_dataset([f"post number {i}" for i in range(4)])
    frame["image"] = [None, "images/r1.jpg", None, None]
    write_dataset(tmp_path / "dataset", card, frame)
    with pytest.raises(ModpipeError, match=r"row 'r1': image 'images/r1.jpg': no such file"):
        validate_dataset(tmp_path / "dataset", tmp_path / "reports", ValidationSettings())

    write_image_eval_set(frame.iloc[[1]], tmp_path / "dataset", n=1, seed=0)
    report = validate_dataset(
        tmp_path / "dataset", tmp_path / "reports", ValidationSettings(min_positives=1)
    )
    assert report.success, report.summary()
