"""components.model.vision with its real models (shipped in their wheels): OCR reads rendered
text in reading order, the NSFW classifier gives deterministic probabilities, and the analyser
puts text, NSFW score and known-image matches together, from several threads at once."""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont

from components.model.vision.analyse import ImageAnalyzer
from components.model.vision.known import KnownImage, KnownImages, image_hash

pytestmark = pytest.mark.slow
FONT = font_manager.findfont("DejaVu Sans")


def captioned(lines: dict[tuple[int, int], str], size=(800, 600), font_size=48) -> Image.Image:
    """Black text on white, each line at its (left, top)."""
    picture = Image.new("RGB", size, "white")
    draw, font = ImageDraw.Draw(picture), ImageFont.truetype(FONT, font_size)
    for place, text in lines.items():
        draw.text(place, text, fill="black", font=font)
    return picture


def blocks(seed: int) -> Image.Image:
    """Coloured blocks, no text."""
    colours = np.random.default_rng(seed).integers(0, 255, size=(6, 8, 3), dtype=np.uint8)
    return Image.fromarray(colours).resize((320, 240), Image.Resampling.NEAREST)


@pytest.fixture(scope="module")
def analyzer() -> ImageAnalyzer:
    removed = KnownImage(id="removed-1", category="violence", hash=image_hash(blocks(1)))
    return ImageAnalyzer(KnownImages([removed]))


def test_ocr_reads_the_words_back(analyzer):
    text = analyzer.reader.read(captioned({(40, 260): "you are an idiot"}))
    assert text.lower().split() == ["you", "are", "an", "idiot"]


def test_ocr_reads_top_to_bottom_then_left_to_right(analyzer):
    picture = captioned({(40, 420): "third line", (450, 80): "second", (40, 80): "first"})
    assert analyzer.reader.read(picture).split("\n") == ["first", "second", "third line"]


def test_a_large_photo_is_read_within_the_size_bound(analyzer):
    picture = captioned({(200, 1200): "claim your prize"}, size=(4000, 3000), font_size=200)
    assert "claim your prize" in analyzer.reader.read(picture).lower()


@pytest.mark.parametrize("size", [(1, 1), (40, 2000), (2000, 40), (1, 30_000)])
def test_pictures_without_text_read_as_nothing_and_quickly(analyzer, size):
    started = time.perf_counter()
    assert analyzer.reader.read(Image.new("RGB", size, "white")) == ""
    assert time.perf_counter() - started < 10  # RapidOCR's defaults take ~45 s on 40x2000


def test_nsfw_scores_are_deterministic_probabilities(analyzer):
    pictures = [blocks(1), blocks(2), captioned({(40, 260): "hello"}), Image.new("RGB", (9, 9))]
    scores = analyzer.scorer.score(pictures)
    assert scores.dtype == np.float32 and scores.shape == (4,)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert np.array_equal(scores, analyzer.scorer.score(pictures))
    one_by_one = np.concatenate([analyzer.scorer.score([picture]) for picture in pictures])
    np.testing.assert_allclose(one_by_one, scores, atol=1e-5)
    assert analyzer.scorer.score([]).shape == (0,)


def test_the_analyser_finds_text_nsfw_and_known_copies(analyzer):
    copy = blocks(1).resize((400, 300)).crop((4, 4, 396, 296))
    caption = captioned({(40, 260): "you are an idiot"})
    found_copy, found_caption = analyzer.analyse_many([copy, caption])
    assert found_copy.text == "" and [m.id for m in found_copy.known] == ["removed-1"]
    assert found_caption.text == "you are an idiot" and found_caption.known == []
    for found in (found_copy, found_caption):
        assert isinstance(found.nsfw, float) and 0 <= found.nsfw <= 1
    assert analyzer.analyse(caption) == found_caption
    assert analyzer.analyse_many([]) == []


def test_the_analyser_serves_threads_at_once(analyzer):
    pictures = [captioned({(40, 100 + 40 * n): f"line number {n}"}) for n in range(4)]
    alone = [analyzer.analyse(picture) for picture in pictures]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(analyzer.analyse, pictures)) == alone


def test_parts_can_be_switched_off():
    bare = ImageAnalyzer(None, nsfw=False, ocr=False)
    (found,) = bare.analyse_many([captioned({(40, 260): "you are an idiot"})])
    assert (found.text, found.nsfw, found.known) == ("", None, [])
