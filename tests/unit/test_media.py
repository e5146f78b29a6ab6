"""Local image files named by a manifest, staged for the local cloud (autolabel/media.py)."""

import json

import pytest

from autolabel.media import MediaError, MediaStager


def _write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def files(tmp_path):
    (tmp_path / "data" / "images").mkdir(parents=True)
    for name in ("a.png", "b.png"):
        (tmp_path / "data" / "images" / name).write_bytes(b"png " + name.encode())
    manifest = _write(tmp_path / "data" / "input.manifest", [
        {"source-ref": "images/a.png", "keep": 1}, {"source-ref": "images/b.png"},
        {"source-ref": "s3://elsewhere/c.png"},
    ])
    # The answers live in another folder and name the same files from there.
    answers = _write(tmp_path / "gold" / "answers.manifest", [
        {"source-ref": "../data/images/b.png", "category": 1}, {"source-ref": "../data/images/a.png", "category": 0},
    ])
    return tmp_path, manifest, answers


def test_manifest_and_answers_name_each_file_by_the_same_s3_uri(files):
    root, manifest, answers = files
    media, uploads = MediaStager(), []
    local = media.absolute_copy(manifest, root / "m.abs", what="input", must_exist=True)
    answers_local = media.absolute_copy(answers, root / "a.abs", what="answers", must_exist=False)
    staged = media.uploaded_copy(local, root / "m.s3", bucket="bkt", prefix="jobs/j/data",
                                 upload=lambda path, bucket, key: uploads.append((path, bucket, key)))
    named = media.named_like_uploads(answers_local, root / "a.s3")
    lines, answer_lines = _read(staged), _read(named)
    assert [u[2] for u in uploads] == ["jobs/j/data/0000000-a.png", "jobs/j/data/0000001-b.png"]
    assert lines[0] == {"source-ref": "s3://bkt/jobs/j/data/0000000-a.png", "keep": 1}
    assert lines[2]["source-ref"] == "s3://elsewhere/c.png"  # already in S3: left alone
    assert answer_lines[0]["source-ref"] == lines[1]["source-ref"]
    assert answer_lines[1]["source-ref"] == lines[0]["source-ref"]


def test_output_manifest_gets_the_original_references_back(files):
    root, manifest, _ = files
    media = MediaStager()
    staged = media.uploaded_copy(media.absolute_copy(manifest, root / "m.abs", what="input", must_exist=True),
                                 root / "m.s3", bucket="bkt", prefix="p", upload=lambda *a: None)
    output = root / "output.manifest"
    output.write_text(staged.read_text())
    media.restore(output)
    assert [line["source-ref"] for line in _read(output)] == ["images/a.png", "images/b.png", "s3://elsewhere/c.png"]


def test_missing_image_names_the_line_and_the_file(tmp_path):
    manifest = _write(tmp_path / "input.manifest", [{"source-ref": "images/nope.png"}])
    with pytest.raises(MediaError, match=r"line 1: source-ref 'images/nope.png' is not a file"):
        MediaStager().absolute_copy(manifest, tmp_path / "copy", what=str(manifest), must_exist=True)
