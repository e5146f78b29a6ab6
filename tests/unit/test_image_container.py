"""The image-classification container's train and serve entry points, run as local processes.

The data: scikit-learn's 8 x 8 digits written as PNG files, some read back through a small
S3 stand-in (the local cloud's route: a plain boto3 client pointed by AWS_ENDPOINT_URL_S3).
"""
import io
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits, load_sample_image

from tests.unit.container_http import free_port, post, source_ref_lines, start_serve
from tests.unit.sagemaker_host import CPU_INSTANCE, GPU_TRAINING_INSTANCE, write_resource_config

CONTAINERS = Path(__file__).resolve().parents[2] / "containers"
CONTAINER = CONTAINERS / "image-classification"
sys.path[:0] = [str(CONTAINER), str(CONTAINERS / "common")]

from image_classifier import calibration, finetune, network  # noqa: E402
from ml_container import backbone, sketch, sources  # noqa: E402

LABEL_COUNT = 11  # one more than the digits: scores must still be 11 wide, the extra one 0
TRAIN_ITEMS = 300
HELD_OUT_ITEMS = 150
BUCKET = "images"


class _S3Objects(BaseHTTPRequestHandler):
    """GET /bucket/key from a dict, as S3 answers path-style requests; NoSuchKey otherwise."""

    objects: dict = {}

    def do_GET(self) -> None:
        body = self.objects.get(self.path.lstrip("/"))
        if body is None:
            body = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code>"
                    b"<Message>The specified key does not exist.</Message></Error>")
            self.send_response(404)
            self.send_header("Content-Type", "application/xml")
        else:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """refs (a mix of path, file:// and s3:// source-refs), labels, the S3 env, the raw files."""
    folder = tmp_path_factory.mktemp("digits")
    data = load_digits()
    order = np.random.default_rng(0).permutation(len(data.target))[:TRAIN_ITEMS + HELD_OUT_ITEMS]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _S3Objects)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    refs, labels, paths = [], [], []
    for n, index in enumerate(order):
        pixels = (data.images[index] * 255 / 16).astype(np.uint8)  # 8 x 8 grayscale
        path = folder / f"digit-{index}.png"
        path.write_bytes(_png(pixels))
        _S3Objects.objects[f"{BUCKET}/digits/{index}.png"] = path.read_bytes()
        refs.append([str(path), path.as_uri(), f"s3://{BUCKET}/digits/{index}.png"][n % 3])
        labels.append(int(data.target[index]))
        paths.append(path)
    env = {
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{server.server_address[1]}",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    }
    yield refs, labels, env, paths
    server.shutdown()


def _write_job(root: Path, hyperparameters: dict, items: list) -> None:
    config = root / "input" / "config"
    config.mkdir(parents=True)
    # SageMaker writes every hyperparameter value as a string.
    (config / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hyperparameters.items()}))
    channel = root / "input" / "data" / "train"
    channel.mkdir(parents=True)
    lines = [json.dumps({"id": i, "source-ref": ref, "label": label}) for i, (ref, label) in enumerate(items)]
    (channel / "part-0.jsonl").write_text("\n".join(lines) + "\n")


def _env(root: Path, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "AUTOLABEL_ML_ROOT": str(root), **(extra or {})}


def _run_train(root: Path, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    # Launched from an unrelated cwd: the script must find its own package.
    return subprocess.run([sys.executable, str(CONTAINER / "train")], env=_env(root, extra_env), cwd=root,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits):
    refs, labels, env, _ = digits
    root = tmp_path_factory.mktemp("ml")
    _write_job(root, {"label_count": LABEL_COUNT}, list(zip(refs[:TRAIN_ITEMS], labels[:TRAIN_ITEMS], strict=True)))
    # As SageMaker tells a job on a CPU instance: training goes on, on the CPU.
    write_resource_config(root, CPU_INSTANCE)
    started = time.monotonic()
    result = _run_train(root, env)
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"train: {time.monotonic() - started:.1f}s: {result.stdout.strip()}")
    return root, result


def test_train_writes_model(trained):
    root, result = trained
    meta = json.loads((root / "model" / "meta.json").read_text())
    assert meta["label_count"] == LABEL_COUNT
    assert meta["training_items"] == TRAIN_ITEMS
    assert meta["classes"] == list(range(10))
    assert meta["backbone"] == "efficientnet_lite0"
    assert meta["image_size"] == 96  # chosen from the data: 8 x 8 images are tiny
    # 300 images: every one trains (no held-out split below 500), 37 a batch for 30 epochs (240
    # steps); on a CPU that is 9,000 full passes, over the budget for training every layer.
    assert meta["fine_tune"] == ("all" if torch.cuda.is_available() else "top")
    report = meta["training"]
    assert report["holdout_items"] == 0 and report["train_items"] == TRAIN_ITEMS
    assert report["max_epochs"] == report["epochs"] == 30 and report["batch_size"] == 37
    assert report["temperature"] == 1.0
    assert (root / "model" / "model.pt").is_file()
    assert not (root / "output" / "failure").exists()
    assert "10/11 classes" in result.stdout


def test_serve_predicts_held_out_digits(trained, digits, tmp_path):
    root, _ = trained
    refs, labels, env, paths = digits
    held_out, truth = refs[TRAIN_ITEMS:], labels[TRAIN_ITEMS:]
    port = free_port()
    server = start_serve(CONTAINER, _env(root, {**env, "SAGEMAKER_BIND_TO_PORT": str(port)}), port)
    try:
        # Several mini-batches in a row, as batch transform sends them; extra keys are ignored.
        predictions = []
        for start in range(0, len(held_out), 64):
            status, content_type, text = post(port, source_ref_lines(held_out[start:start + 64]))
            assert status == 200, text
            assert content_type == "application/jsonlines"
            predictions += [json.loads(line) for line in text.splitlines()]
        assert len(predictions) == len(held_out)
        for p in predictions:
            assert set(p) == {"label", "confidence", "scores", "sketch"}
            assert len(p["scores"]) == LABEL_COUNT
            assert sum(p["scores"]) == pytest.approx(1.0, abs=1e-4)
            assert p["scores"][10] == 0.0  # never seen in training
            assert p["label"] == int(np.argmax(p["scores"]))
            assert p["confidence"] == pytest.approx(max(p["scores"]), abs=1e-6)
            assert len(p["sketch"]) == 32 and int(p["sketch"], 16) >= 0  # 128 bits, hex
        accuracy = np.mean([p["label"] == y for p, y in zip(predictions, truth, strict=True)])
        print(f"held-out accuracy {accuracy:.3f} on {len(truth)}")
        assert accuracy > 0.85
        confident = [p["label"] == y for p, y in zip(predictions, truth, strict=True) if p["confidence"] >= 0.9]
        assert len(confident) > len(truth) / 3 and np.mean(confident) > 0.95  # confidence means something

        # The same image by any route (path, file:// URI, S3), alone or in a batch: the same answer.
        index = TRAIN_ITEMS  # refs[index] is a path (index % 3 == 0)
        key = paths[index].name.removeprefix("digit-")
        routes = [str(paths[index]), paths[index].as_uri(), f"s3://{BUCKET}/digits/{key}"]
        status, _, text = post(port, source_ref_lines(routes))
        assert status == 200, text
        answers = [json.loads(line) for line in text.splitlines()]
        status, _, text = post(port, json.dumps({"source-ref": routes[2]}).encode(), "application/json")
        assert status == 200 and len(text.splitlines()) == 1, text
        answers.append(json.loads(text))
        first = predictions[0]
        for answer in answers:
            assert answer["sketch"] == first["sketch"] and answer["label"] == first["label"]
            # Kernels sum in a batch-size-dependent order: the last float bits may differ.
            assert answer["scores"] == pytest.approx(first["scores"], abs=1e-5)
        different = sum(p["sketch"] != predictions[0]["sketch"] for p in predictions[1:])
        assert different >= len(predictions) - 3  # other digits, other sketches

        # An image that cannot be read fails the request, naming its line and source-ref.
        missing = str(tmp_path / "missing.png")
        status, _, text = post(port, source_ref_lines([held_out[0], missing]))
        assert status == 400 and "line 2" in text and missing in text and "FileNotFoundError" in text
        not_image = tmp_path / "notes.png"
        not_image.write_text("not a picture")
        status, _, text = post(port, source_ref_lines([str(not_image)]))
        assert status == 400 and "line 1" in text and "cannot decode" in text and str(not_image) in text
        status, _, text = post(port, source_ref_lines([held_out[0], held_out[1], f"s3://{BUCKET}/digits/nope.png"]))
        assert status == 400 and "line 3" in text and f"s3://{BUCKET}/digits/nope.png" in text
        assert "NoSuchKey" in text
        status, _, text = post(port, b'{"source-ref": "a.png"}\n{"source": "text, not an image"}\n')
        assert status == 400 and "line 2" in text and "source-ref" in text
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=10)[0]
    assert server.returncode == 0, output


def test_missing_label_count_fails_cleanly(tmp_path, digits):
    refs, labels, _, _ = digits
    _write_job(tmp_path, {"image_size": 64}, list(zip(refs[:4], labels[:4], strict=True)))
    result = _run_train(tmp_path)
    assert result.returncode == 1
    assert "label_count" in (tmp_path / "output" / "failure").read_text()
    assert not (tmp_path / "model").exists()


def test_bad_hyperparameter_is_named(tmp_path, digits):
    refs, labels, _, _ = digits
    _write_job(tmp_path, {"label_count": 10, "fine_tune": "everything"}, list(zip(refs[:4], labels[:4], strict=True)))
    assert _run_train(tmp_path).returncode == 1
    failure = (tmp_path / "output" / "failure").read_text()
    assert "fine_tune" in failure and "everything" in failure


def test_bad_training_line_names_the_line(tmp_path, digits):
    refs, _, _, _ = digits
    _write_job(tmp_path, {"label_count": 2}, [(refs[0], 0), (refs[3], 5)])
    assert _run_train(tmp_path).returncode == 1
    assert "part-0.jsonl line 2" in (tmp_path / "output" / "failure").read_text()


def test_unreadable_training_image_names_line_and_source_ref(tmp_path, digits):
    refs, _, _, _ = digits
    missing = str(tmp_path / "gone.png")
    _write_job(tmp_path, {"label_count": 2}, [(refs[0], 0), (refs[3], 1), (missing, 1)])
    assert _run_train(tmp_path).returncode == 1
    failure = (tmp_path / "output" / "failure").read_text()
    assert "part-0.jsonl line 3" in failure and missing in failure


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine's torch can use its GPU")
def test_gpu_instance_without_usable_cuda_fails_at_once(tmp_path, digits):
    # An image that cannot be read: the failure names the GPU, so training stopped before reading it.
    refs, _, _, _ = digits
    _write_job(tmp_path, {"label_count": 2}, [(refs[0], 0), (str(tmp_path / "gone.png"), 1)])
    write_resource_config(tmp_path, GPU_TRAINING_INSTANCE)
    result = _run_train(tmp_path)
    assert result.returncode == 1
    failure = (tmp_path / "output" / "failure").read_text()
    assert failure.startswith(f"{GPU_TRAINING_INSTANCE} has NVIDIA GPUs but this image cannot use them")
    assert f"torch {torch.__version__}" in failure and "Dockerfile.train" in failure
    assert "gone.png" not in failure and len(failure) < 1024  # SageMaker's FailureReason limit
    assert failure.strip() in result.stderr
    assert not (tmp_path / "model").exists()


# ---------------------------------------------------------------- in-process pieces ----

@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors gain nothing from threads here, and idle OpenMP threads spin: in a pytest
    process sharing 2 cores with other work, that made these tests 10x slower. (The container's
    entry points set OMP_WAIT_POLICY=PASSIVE instead; too late for this process.)"""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_pretrained_weights_recognise_a_photo(tmp_path):
    """The weights file's names map onto every layer, and the preprocessing is the one they
    were trained with: a photo of a temple comes out as a building."""
    weights = torch.load(backbone.weights_path(), map_location="cpu", weights_only=True)
    renamed = backbone.timm_state_dict(weights)
    assert len(renamed) == len(weights) == len(backbone.EfficientNetLite0().state_dict())
    photo = tmp_path / "china.jpg"
    Image.fromarray(load_sample_image("china.jpg")).save(photo, quality=95)
    pixels = sources.load_many([str(photo)], 224)
    model = backbone.pretrained().eval()
    with torch.no_grad():
        top = model(backbone.normalise(torch.from_numpy(pixels).permute(0, 3, 1, 2))).softmax(1)[0].topk(3)
    buildings = {442, 449, 483, 497, 663, 698, 832}  # bell cote, boathouse, castle, church, monastery, palace, stupa
    assert int(top.indices[0]) in buildings, top


def test_layout_matches_timm():
    timm = pytest.importorskip("timm")  # needs a torchvision that loads: not with the CPU torch from PyPI
    ours = backbone.pretrained().eval()
    reference = timm.create_model("efficientnet_lite0", pretrained=False, bn_eps=backbone.BN_EPS).eval()
    assert list(reference.state_dict()) == list(ours.state_dict())
    reference.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(reference(x), ours(x), atol=1e-5)


def _tiny_settings(**changes) -> finetune.Settings:
    base = dict(image_size=32, fine_tune="all", max_epochs=2, patience=2, batch_size=16,
                learning_rate=1e-3, holdout_fraction=0.25, seed=7)
    return finetune.Settings(**{**base, **changes})


def _tiny_data(count: int = 48) -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    images = np.stack([np.asarray(Image.fromarray((data.images[i] * 255 / 16).astype(np.uint8)).convert("RGB")
                                  .resize((32, 32))) for i in range(count)])
    return images, data.target[:count].astype(np.int64)


@pytest.mark.parametrize("fine_tune", ["all", "top"])
def test_fine_tuning_is_deterministic(fine_tune):
    images, labels = _tiny_data()
    scores = []
    for _ in range(2):
        model = network.Network(10, sorted(set(labels.tolist())))
        model.load_pretrained_backbone()
        report = finetune.fit(model, images, labels, _tiny_settings(fine_tune=fine_tune), torch.device("cpu"),
                              log=lambda message: None)
        assert report.epochs >= 1
        with torch.no_grad():
            x = backbone.normalise(torch.from_numpy(images[:8]).permute(0, 3, 1, 2))
            scores.append(model.scores(model.logits(model.features(x, 0))))
    assert torch.equal(scores[0], scores[1])


def test_small_training_sets_get_smaller_batches_so_an_epoch_has_several_steps():
    assert finetune.batch_size_for(127, 64) == 16  # a first batch of 150 less its held-out split
    assert finetune.batch_size_for(300, 64) == 37
    assert finetune.batch_size_for(1000, 64) == 64 and finetune.batch_size_for(100_000, 64) == 64
    assert finetune.batch_size_for(40, 64) == 16 and finetune.batch_size_for(40, 8) == 8


def test_held_out_split_only_from_500_items():
    # Below 500, a split leaves too few items to stop on and takes labels from training (finetune says why).
    labels = np.arange(499) % 10
    assert finetune.split(labels, 0.15, 0)[1].size == 0
    train, holdout = finetune.split(np.arange(600) % 10, 0.15, 0)
    assert holdout.size == 90 and train.size == 510
    assert finetune.split(np.arange(600) % 10, 0.0, 0)[1].size == 0


def test_small_training_sets_train_more_epochs_and_every_layer_while_cheap():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert finetune.epochs_for(150, 64) == 30  # 18 a batch: 8 steps an epoch, 240 in 30 epochs
    assert finetune.epochs_for(10_000, 64) == finetune.DEFAULT_EPOCHS
    # The first model of a job trains every layer on a CPU; 400 images at 30 epochs cost too much.
    auto = finetune.Settings(image_size=96, fine_tune="auto", max_epochs=None, patience=4, batch_size=64,
                             learning_rate=None, holdout_fraction=0.15, seed=0)
    assert finetune.plan(auto, 150, cpu) == finetune.Plan("all", 30, 3e-3)
    assert finetune.plan(auto, 400, cpu) == finetune.Plan("top", 30, 1e-3)
    assert finetune.plan(auto, 400, gpu).fine_tune == "all"
    # The same 150 images at 224 px cost 5.4 times the passes: "top".
    assert finetune.plan(replace(auto, image_size=224), 150, cpu).fine_tune == "top"
    # What the user set is kept.
    assert finetune.plan(replace(auto, fine_tune="top", max_epochs=5, learning_rate=0.01), 150, cpu) == \
        finetune.Plan("top", 5, 0.01)


def test_a_first_model_on_150_images_learns_the_digits():
    # What a job's first model sees: 150 human labels, trained as a CPU job trains them by default.
    # At 64 a batch that was one optimizer step an epoch, and this model came out 67% right; with the
    # batch made smaller, 91% ("top", 12 epochs, a held-out split); every layer, 30 epochs, no split: 95%.
    data = load_digits()
    order = np.random.default_rng(0).permutation(len(data.target))[:750]
    images = np.stack([np.asarray(Image.fromarray(np.rint(data.images[i] * 255 / 16).astype(np.uint8))
                                  .convert("RGB").resize((96, 96), Image.BILINEAR)) for i in order])
    labels = data.target[order].astype(np.int64)
    model = network.Network(10, list(range(10)))
    model.load_pretrained_backbone()
    settings = finetune.Settings(image_size=96, fine_tune="auto", max_epochs=None, patience=4, batch_size=64,
                                 learning_rate=None, holdout_fraction=0.15, seed=0)
    report = finetune.fit(model, images[:150], labels[:150], settings, torch.device("cpu"), log=lambda m: None)
    assert (report.batch_size, report.fine_tune, report.epochs, report.holdout_items) == (18, "all", 30, 0)
    model.eval()
    with torch.no_grad():
        x = backbone.normalise(torch.from_numpy(images[150:]).permute(0, 3, 1, 2))
        accuracy = float((model.scores(model.logits(model.features(x, 0))).argmax(1).numpy() == labels[150:]).mean())
    assert accuracy > 0.92


def test_single_class_predicts_it_with_full_confidence():
    images, _ = _tiny_data(8)
    model = network.Network(3, [2])
    model.load_pretrained_backbone()
    report = finetune.fit(model, images, np.full(8, 2), _tiny_settings(), torch.device("cpu"), log=lambda m: None)
    assert report.epochs == 0
    with torch.no_grad():
        x = backbone.normalise(torch.from_numpy(images[:3]).permute(0, 3, 1, 2))
        scores = model.scores(model.logits(model.features(x, 0)))
    assert scores.tolist() == [[0.0, 0.0, 1.0]] * 3


def test_temperature_only_softens():
    labels = torch.tensor([0, 1, 0, 1] * 25)
    right = torch.nn.functional.one_hot(labels, 2).double() * 4.0
    assert calibration.fit_temperature(right, labels) == 1.0  # all correct: no evidence to sharpen
    overconfident = right * 5
    overconfident[:10] = overconfident[:10].flip(1)  # 10% confidently wrong
    temperature = calibration.fit_temperature(overconfident, labels)
    assert temperature > 2.0
    assert calibration.nll(overconfident, labels, temperature) < calibration.nll(overconfident, labels, 1.0)


def test_resolution_follows_the_data():
    assert sources.auto_size([8] * 10) == 96
    assert sources.auto_size([28, 28, 500]) == 96
    assert sources.auto_size([100] * 3) == 128
    assert sources.auto_size([375, 480, 1200]) == 224


def test_decode_modes(tmp_path):
    transparent = Image.new("RGBA", (10, 6), (255, 0, 0, 0))
    transparent.putpixel((0, 0), (0, 0, 255, 255))
    buffer = io.BytesIO()
    transparent.save(buffer, format="PNG")
    pixels = sources.decode("t.png", buffer.getvalue(), 4)
    assert pixels.shape == (4, 4, 3) and pixels.dtype == np.uint8
    assert tuple(pixels[3, 3]) == (255, 255, 255)  # transparent shows as white, not red or black
    # A phone photo stored sideways with an EXIF rotation: decoded upright (taller than wide).
    sideways = Image.new("RGB", (40, 20), "white")
    sideways.paste((0, 0, 0), (0, 0, 20, 20))  # left half black
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    sideways.save(buffer, format="JPEG", exif=exif.tobytes())
    upright = sources.decode("p.jpg", buffer.getvalue(), 8)
    assert upright[0].mean() < 60 and upright[-1].mean() > 200  # black half now on top
    # 16-bit grayscale (scans): scaled to 8 bits, not clipped to white.
    deep = Image.fromarray(np.full((6, 6), 32768, dtype=np.uint16))
    buffer = io.BytesIO()
    deep.save(buffer, format="PNG")
    assert 120 <= sources.decode("scan.png", buffer.getvalue(), 4).mean() <= 135
    with pytest.raises(sources.ImageError, match="'s3://b'"):
        sources.read_bytes("s3://b")
    with pytest.raises(sources.ImageError, match="unsupported scheme 'http'"):
        sources.read_bytes("http://example.com/a.png")


def _hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def test_sketch_distance_tracks_the_angle_between_embeddings():
    rng = np.random.default_rng(0)
    base = rng.normal(size=backbone.FEATURES)
    base /= np.linalg.norm(base)
    noise = rng.normal(size=backbone.FEATURES)
    noise -= noise @ base * base
    noise /= np.linalg.norm(noise)

    def at_cosine(c):
        return c * base + np.sqrt(1 - c * c) * noise

    same, close, related, orthogonal = sketch.sketches(np.stack(
        [base, at_cosine(0.995), at_cosine(0.9), at_cosine(0.0)]).astype(np.float32))
    (again,) = sketch.sketches(base[None, :].astype(np.float32))
    assert again == same
    assert _hamming(same, close) <= 8 < _hamming(same, related)  # the default NearDuplicateMaxBits
    assert 40 <= _hamming(same, orthogonal) <= 88
    assert sketch.sketches(np.zeros((0, backbone.FEATURES))) == []
    assert all(len(s) == 32 for s in itertools.chain([same, close]))
