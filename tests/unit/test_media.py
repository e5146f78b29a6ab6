"""Local image files named by a manifest, staged for the local cloud (autolabel/media.py)."""

import json

import pytest

from autolabel.media import MediaStager


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
    local = media.absolute_copy(manifest, root / "m.abs")
    answers_local = media.absolute_copy(answers, root / "a.abs")
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
    staged = media.uploaded_copy(media.absolute_copy(manifest, root / "m.abs"),
                                 root / "m.s3", bucket="bkt", prefix="p", upload=lambda *a: None)
    output = root / "output.manifest"
    output.write_text(staged.read_text())
    media.restore(output)
    assert [line["source-ref"] for line in _read(output)] == ["images/a.png", "images/b.png", "s3://elsewhere/c.png"]


def test_a_local_file_that_is_no_image_is_a_bad_line_and_an_image_is_not(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    (tmp_path / "real.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(8))
    manifest = _write(tmp_path / "input.manifest", [{"source-ref": "notes.png"}, {"source-ref": "real.png"}])
    media = MediaStager()
    copy = _read(media.absolute_copy(manifest, tmp_path / "copy"))
    assert media.is_bad(copy[0]["source-ref"]) and not media.is_bad(copy[1]["source-ref"])


def test_a_missing_image_is_kept_as_written_for_the_pipeline_to_report(tmp_path):
    manifest = _write(tmp_path / "input.manifest", [{"source-ref": "images/nope.png"}])
    media = MediaStager()
    copy = media.absolute_copy(manifest, tmp_path / "copy")
    assert _read(copy) == [{"source-ref": "images/nope.png"}]
    assert media.is_bad("images/nope.png") and not media.is_bad("s3://b/k.png")
    uploads = []
    media.uploaded_copy(copy, tmp_path / "up", bucket="b", prefix="p", upload=lambda *a: uploads.append(a))
    assert uploads == [] and _read(tmp_path / "up") == [{"source-ref": "images/nope.png"}]


def test_copies_keep_the_users_lines_one_to_one(files):
    root, _, _ = files
    (root / "data" / "images" / "x\u2028y.png").write_bytes(b"png")
    manifest = root / "data" / "odd.manifest"
    lines = [
        '{"source-ref": "images/a.png", "note": "a\u2028b\u0085c\u2029d"}'.encode(),  # raw, not line breaks
        b"",  # a blank line keeps its number
        b'{"source-ref": "images/b.png", "bad": "a\rb"}',  # not JSON (a raw CR): copied as it is
        '{"source-ref": "images/x\u2028y.png"}'.encode(),
        b'{"source-ref": "images/a.png", "text": "\\udc80"}',  # a lone surrogate, escaped
        b'{"source-ref": "images/b.png", "t": "\xff"}\r',  # a byte that is not UTF-8; CRLF
    ]
    manifest.write_bytes(b"\n".join(lines) + b"\n")
    copy = MediaStager().absolute_copy(manifest, root / "odd.abs")
    copied = copy.read_bytes().split(b"\n")
    assert len(copied) == len(lines) + 1 and copied[-1] == b""
    assert copied[1] == b"" and copied[2] == lines[2]
    first = json.loads(copied[0])
    assert first["note"] == "a\u2028b\u0085c\u2029d" and first["source-ref"] == str(root / "data/images/a.png")
    assert json.loads(copied[3])["source-ref"] == str(root / "data/images/x\u2028y.png")
    assert json.loads(copied[4])["text"] == "\udc80"
    # The byte that is not UTF-8: written as its lone-surrogate escape, a bad line for the pipeline to report.
    assert json.loads(copied[5])["t"] == "\udcff"
