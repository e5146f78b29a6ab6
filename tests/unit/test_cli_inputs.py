"""`autolabel run` on every bad input a user can give: one clear message naming their file, line and
the fix; no traceback; none of their files touched. All but the last two tests stop before the
local cloud starts, as the run's checks do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autolabel import cli, runner
from autolabel.output_folder import MARKER, WORKDIR, OutputFolder, OutputFolderError
from autolabel.run_record import RunRecord, input_fingerprints, request_fields
from labeling.layout import JobLayout
from labeling.logic.job_setup import JobSetupError, parse_label_categories

NAMES = ["football", "cooking", "weather"]
TEXTS = ["The striker scored late", "The chef baked bread", "A cold front arrives", "The keeper saved it",
         "Soup simmered for an hour", "Fog closed the pass"]


def _answer(text: str, topic: int) -> dict:
    return {"source": text, "topic": topic, "topic-metadata": {"class-name": NAMES[topic]}}


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def job(tmp_path) -> dict[str, Path]:
    """A small text job's files, in a folder of their own."""
    folder = tmp_path / "job"
    folder.mkdir()
    labels = folder / "topics.json"
    labels.write_text(json.dumps({"document-version": "2018-11-28", "labels": [{"label": n} for n in NAMES]}))
    manifest = _write_lines(folder / "notes.manifest", [json.dumps({"source": t}) for t in TEXTS])
    answers = _write_lines(folder / "gold.manifest", [json.dumps(_answer(t, i % 3)) for i, t in enumerate(TEXTS)])
    return {"manifest": manifest, "labels": labels, "answers": answers, "output": tmp_path / "out"}


def _argv(job: dict[str, Path], *extra: str, task_type: str = "text-classification") -> list[str]:
    return ["run", str(job["manifest"]), "--task-type", task_type, "--labels", str(job["labels"]),
            "--answers", str(job["answers"]), "--output", str(job["output"]), *extra]


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(argv: list[str], capsys, *, before: dict[str, bytes] | None = None, folder: Path | None = None) -> str:
    """Run the CLI, expect it to refuse; returns stderr. Checks that no user file changed."""
    code = cli.main(argv)
    captured = capsys.readouterr()
    assert code == 1, captured
    assert "Traceback" not in captured.err + captured.out
    assert captured.err.startswith("autolabel: ") and captured.err.count("\n") == 1, captured.err
    if folder is not None:
        assert _contents(folder) == before
    return captured.err


@pytest.fixture
def unchanged(job):
    """The job folder's files before the run, to compare with after it."""
    return {"before": _contents(job["manifest"].parent), "folder": job["manifest"].parent}


# -------------------------------------------------------------- labels file ----

@pytest.mark.parametrize("text,expected", [
    ('{"labels": [\n  {"label": "a"},\n]}', "is not valid JSON: Expecting value at line 3 column 1; write the label "
                                            "categories as JSON, e.g. {\"document-version\""),
    ("", "is empty; write the label categories in it, e.g. {\"document-version\""),
    ("  \n", "is empty; write the label categories in it"),
])
def test_a_labels_file_that_is_not_json_is_named_with_its_line_and_column(job, capsys, unchanged, text, expected):
    job["labels"].write_text(text)
    unchanged["before"] = _contents(unchanged["folder"])
    err = _refused(_argv(job), capsys, **unchanged)
    assert f"labels file {job['labels']} {expected}" in err


@pytest.mark.parametrize("labels,expected", [
    ([], "labels: List should have at least 2 items after validation, not 0"),
    ([{"label": "only"}], "labels: List should have at least 2 items after validation, not 1"),
    ([{"label": "a"}, {"label": "b"}, {"label": "a"}], "labels: duplicate labels: ['a']"),
    ([{"label": "Sport"}, {"label": "news"}, {"label": "sport"}],
     "labels: labels differ only in case: ['Sport', 'sport']; give each class one spelling"),
])
def test_labels_that_cannot_make_a_job_are_named(job, capsys, unchanged, labels, expected):
    job["labels"].write_text(json.dumps({"labels": labels}))
    unchanged["before"] = _contents(unchanged["folder"])
    err = _refused(_argv(job), capsys, **unchanged)
    assert f"{job['labels']} is invalid: {expected}; expected {runner.LABELS_EXAMPLE}" in err
    assert "Value error" not in err


def test_the_deployed_pipeline_refuses_labels_that_differ_only_in_case_too():
    with pytest.raises(JobSetupError, match=r"labels differ only in case: \['Cat', 'cat'\]"):
        parse_label_categories({"labels": [{"label": "Cat"}, {"label": "cat"}]}, "jobs/a/labels.json")


def test_a_labels_file_with_a_utf8_bom_is_read(job):
    job["labels"].write_bytes(b"\xef\xbb\xbf" + job["labels"].read_bytes())
    labels, uploaded = runner._labels(job["labels"])
    assert labels.names == NAMES and json.loads(uploaded)["labels"][0] == {"label": "football"}


# ------------------------------------------------------------- answers file ----

@pytest.mark.parametrize("line,expected", [
    ('{"source": "x", "topic": 0,', "line 3 is not valid JSON (Expecting property name enclosed in double quotes "
                                    "at column 28); write one JSON object per line"),
    ('{"source": "a\tb", "topic": 0}', "line 3 is not valid JSON (a raw control character '\\t' at column 14; "
                                        "inside a text, write a tab as \\t and a line break as \\n)"),
    ('["The chef baked bread", 1]', "line 3 is not a JSON object; write one object per line"),
    ('{"text": "x", "topic": 0, "topic-metadata": {"class-name": "football"}}',
     "line 3 has neither 'source' nor 'source-ref'; each answer names its item the way the manifest does"),
    (json.dumps({**_answer("x", 0), "topic-metadata": {"class-name": "baking"}}),
     "line 3: 'baking' is not one of the labels ['football', 'cooking', 'weather']; fix the answer, or add the "
     "class to the labels file"),
    ('{"source": "x", "topic": "football"}', "line 3 has no label in Ground Truth's format"),
    (json.dumps(_answer(TEXTS[0], 2)), "lines 1 and 3 answer the same item differently; keep the right one"),
])
def test_a_bad_answers_line_is_named_by_its_line_number(job, capsys, unchanged, line, expected):
    lines = job["answers"].read_text().splitlines()
    _write_lines(job["answers"], [lines[0], "", line, *lines[1:]])  # the blank line counts
    unchanged["before"] = _contents(unchanged["folder"])
    err = _refused(_argv(job), capsys, **unchanged)
    assert f"autolabel: {job['answers']} {expected}" in err


def test_missing_answers_are_named_by_manifest_line_and_bad_lines_need_none(job, capsys, unchanged):
    _write_lines(job["manifest"], [
        json.dumps({"source": TEXTS[0]}),
        "",
        '{"source": ',  # line 3: not JSON, the pipeline reports it and sends it to no one
        json.dumps({"source": "A line nobody answered"}),  # line 4
        json.dumps({"text": "no source"}),  # line 5: bad too
        json.dumps({"source": "Another unknown one"}),  # line 6
    ])
    unchanged["before"] = _contents(unchanged["folder"])
    err = _refused(_argv(job), capsys, **unchanged)
    assert (f"autolabel: {job['answers']} has no answer for 2 manifest line(s), e.g. line(s) [4, 6] of "
            f"{job['manifest']}; the simulated workforce answers only items it knows: add a line with the same "
            f"'source' and its label to {job['answers']}") in err


def test_a_missing_local_image_needs_no_answer_and_does_not_stop_the_run(job, capsys, unchanged):
    images = job["manifest"].parent / "images"
    images.mkdir()
    (images / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (images / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    _write_lines(job["manifest"], [json.dumps({"source-ref": ref}) for ref in
                                   ("images/a.png", "images/gone.png", "images/b.png")])
    answers = [{"source-ref": "images/a.png", "topic": 0, "topic-metadata": {"class-name": "football"}}]
    _write_lines(job["answers"], [json.dumps(a) for a in answers])
    unchanged["before"] = _contents(unchanged["folder"])
    err = _refused(_argv(job, task_type="image-classification"), capsys, **unchanged)
    # images/gone.png (line 2) is the pipeline's to report; only b.png needs an answer.
    assert "has no answer for 1 manifest line(s), e.g. line(s) [3]" in err


# ---------------------------------------------------------------- --output ----

def test_an_output_folder_with_files_in_it_is_refused_and_left_as_it_is(job, capsys):
    job["output"].mkdir()
    (job["output"] / "thesis.txt").write_text("years of work")
    err = _refused(_argv(job), capsys, before={"thesis.txt": b"years of work"}, folder=job["output"])
    assert (f"--output {job['output']} is not empty (1 entry: thesis.txt); give a new or empty folder, or add "
            "--overwrite to replace what an earlier autolabel run wrote there (nothing was changed)") in err


def test_output_dot_is_refused_and_deletes_nothing(job, capsys, monkeypatch):
    folder = job["manifest"].parent
    monkeypatch.chdir(folder)
    before = _contents(folder)
    argv = ["run", "notes.manifest", "--task-type", "text-classification", "--labels", "topics.json",
            "--answers", "gold.manifest", "--output", "."]
    err = _refused(argv, capsys, before=before, folder=folder)
    assert "--output . is not empty (3 entries: gold.manifest, notes.manifest, topics.json)" in err


def test_a_file_as_output_is_refused_before_anything_runs(job, capsys, unchanged):
    job["output"] = job["manifest"]
    err = _refused(_argv(job), capsys, **unchanged)
    assert f"--output {job['manifest']} is a file, not a folder; give a new or empty folder" in err


def test_overwrite_refuses_a_folder_that_no_run_wrote(job, capsys):
    job["output"].mkdir()
    (job["output"] / "report.json").write_text("mine")
    err = _refused(_argv(job, "--overwrite"), capsys, before={"report.json": b"mine"}, folder=job["output"])
    assert f"--output {job['output']} holds files that no autolabel run wrote (it has no readable {MARKER})" in err


def test_overwrite_replaces_only_what_the_earlier_run_listed(tmp_path):
    out, staged = tmp_path / "out", tmp_path / "staged"
    (out / "manifests" / "output").mkdir(parents=True)
    (out / "manifests" / "output" / "output.manifest").write_text("old labels")
    (out / "old-plot.png").write_text("old")
    (out / "notes.txt").write_text("the user's")
    (out / "input.manifest").write_text("the job's input, listed by an edited marker")
    (out / MARKER).write_text(json.dumps({"files": [
        "manifests/output/output.manifest", "old-plot.png", "input.manifest", "../outside.txt", "/etc/passwd"]}))
    (tmp_path / "outside.txt").write_text("not in the folder")
    (staged / "manifests" / "output").mkdir(parents=True)
    (staged / "manifests" / "output" / "output.manifest").write_text("new labels")
    (staged / "notes.txt").write_text("a result named like the user's file")
    folder = OutputFolder(out, overwrite=True, keep=[out / "input.manifest"])
    folder.check()
    kept = folder.publish(staged, "job")
    assert kept == ["notes.txt"] and (staged / "notes.txt").exists()
    assert _contents(out) == {
        MARKER: (out / MARKER).read_bytes(), "input.manifest": b"the job's input, listed by an edited marker",
        "manifests/output/output.manifest": b"new labels", "notes.txt": b"the user's"}
    assert json.loads((out / MARKER).read_text())["files"] == ["manifests/output/output.manifest"]
    assert (tmp_path / "outside.txt").exists()


def test_output_under_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputFolderError, match="cannot be made: .* is a file"):
        OutputFolder(tmp_path / "f" / "out").check()


# -------------------------------------------------------------- options ----

@pytest.mark.parametrize("option,value,expected", [
    ("--human-batch-size", "0", "must be at least 10 and at most 10000, not 0"),
    ("--calibration-sample-size", "5", "must be at least 10 and at most 5000, not 5 (or 'auto')"),
    ("--calibration-sample-size", "half", "a whole number is needed, not 'half' (or 'auto')"),
    ("--target-accuracy", "1.0", "must be at least 0.5 and below 1, not 1.0"),
    ("--target-accuracy", "0.4", "must be at least 0.5 and below 1, not 0.4"),
    ("--target-accuracy", "nan", "a finite number is needed, not 'nan'"),
    ("--target-mean-iou", "0", "must be above 0 and below 1, not 0"),
    ("--target-mean-iou", "1", "must be above 0 and below 1, not 1"),
    ("--max-invalid-line-percentage", "101", "must be at least 0 and at most 100, not 101"),
    ("--human-batch-size", "1.5", "a whole number is needed, not '1.5'"),
    ("--seed", "-1", "must be at least 0 and at most 4.29497e+09, not -1"),
])
def test_an_option_out_of_range_is_refused_by_the_parser(job, capsys, option, value, expected):
    with pytest.raises(SystemExit) as exited:
        cli.main(_argv(job, option, value))
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"error: argument {option}: {expected}" in err and "Traceback" not in err


def test_help_states_the_pipelines_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("MaxConcurrentTaskCount (default 150)", "CalibrationSampleSize (default 100)",
                    "TargetAccuracy (default 0.95)", "TargetMeanIoU (default 0.6)",
                    "MaxInvalidLinePercentage (default 10)"):
        assert default in text


def test_auto_calibration_needs_a_batch_above_100_and_says_so_with_the_options(job, capsys, unchanged):
    err = _refused(_argv(job, "--human-batch-size", "100", "--calibration-sample-size", "auto"), capsys, **unchanged)
    assert ('invalid job settings: with --calibration-sample-size "auto", --human-batch-size must be above 100'
            in err and "(here --human-batch-size 100, --calibration-sample-size auto)" in err)


def test_settings_that_do_not_fit_together_name_the_options_and_their_values(job, capsys, unchanged):
    err = _refused(_argv(job, "--human-batch-size", "100"), capsys, **unchanged)
    assert ("invalid job settings: --calibration-sample-size must be smaller than --human-batch-size, so that "
            "each human batch also holds the most ambiguous items (here --human-batch-size 100, "
            "--calibration-sample-size 100)") in err


@pytest.mark.parametrize("change,expected", [
    (lambda job: job.update(manifest=job["manifest"].with_name("nope.manifest")), "manifest file {} does not exist"),
    (lambda job: job.update(answers=job["manifest"].parent), "answers file {} is a folder, not a file"),
])
def test_a_missing_file_is_named(job, capsys, change, expected):
    change(job)
    err = _refused(_argv(job), capsys)
    assert expected.format(job["manifest"] if "manifest" in expected else job["answers"]) in err


# ------------------------------------------------------------- --job-config ----

@pytest.mark.parametrize("content,expected", [
    (None, "job settings file {} does not exist"),
    ('{"TaskType": "text-classification",}', "job settings file {} is not JSON (Expecting property name"),
    ('["text-classification"]', "job settings file {} is not a JSON object; events/job.json is an example"),
])
def test_a_job_config_that_cannot_be_job_settings_is_named(job, capsys, unchanged, content, expected):
    settings = job["manifest"].parent / "job.json"
    if content is not None:
        settings.write_text(content)
        unchanged["before"] = _contents(job["manifest"].parent)
    err = _refused(_argv(job, "--job-config", str(settings)), capsys, **unchanged)
    assert expected.format(settings) in err


def test_a_wrong_field_in_the_job_config_is_named_with_the_file_not_an_option(job, capsys):
    settings = job["manifest"].parent / "job.json"
    settings.write_text(json.dumps({"TargetAccuracy": 1.5, "AuditSampleSize": 40}))
    err = _refused(_argv(job, "--job-config", str(settings)), capsys)
    assert f"TargetAccuracy: Input should be less than 1 (job settings from {settings}" in err
    assert "--target-accuracy" not in err
    settings.write_text(json.dumps({"StopTrainingWhenOutOfReech": True}))  # a typo is not silently ignored
    assert "StopTrainingWhenOutOfReech: Extra inputs are not permitted" in _refused(
        _argv(job, "--job-config", str(settings)), capsys)


def test_the_task_type_comes_from_the_option_or_the_job_config(job, capsys):
    settings = job["manifest"].parent / "job.json"
    settings.write_text(json.dumps({"AuditSampleSize": 40}))
    argv = [arg for arg in _argv(job, "--job-config", str(settings))
            if arg not in ("--task-type", "text-classification")]
    with pytest.raises(SystemExit) as refused:
        cli.main(argv)
    assert refused.value.code == 2
    assert f"give --task-type, or TaskType in {settings}" in capsys.readouterr().err
    settings.write_text(json.dumps({"TaskType": "image-classification"}))
    with pytest.raises(SystemExit) as refused:
        cli.main(_argv(job, "--job-config", str(settings)))  # and --task-type text-classification
    assert refused.value.code == 2
    assert (f"--task-type text-classification and TaskType 'image-classification' in {settings} disagree"
            in capsys.readouterr().err)


def test_a_job_name_the_pipeline_cannot_use_is_refused(job, capsys):
    err = _refused(_argv(job, "--job-name", "my job"), capsys)
    assert "job name 'my job' is not allowed; give --job-name 1-40 letters, digits or hyphens" in err


def test_a_relative_workdir_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner._workdir(Path("work")) == tmp_path / "work" and (tmp_path / "work").is_dir()


def test_an_unexpected_error_prints_one_line_and_keeps_the_traceback_in_a_file(job, capsys, monkeypatch):
    def broken(request, app=None):
        raise KeyError("boom")

    monkeypatch.setattr(cli, "run", broken)
    assert cli.main(_argv(job)) == 1
    err = capsys.readouterr().err
    assert err.startswith("autolabel: unexpected error (KeyError: 'boom'); this is a bug in autolabel")
    assert "Traceback" not in err and err.count("\n") == 1
    log = Path(err.rsplit("Details: ", 1)[1].strip())
    assert "Traceback" in log.read_text()
    log.unlink()


# ------------------------------------------------- pipeline messages ----

class _Media:
    original = {"s3://bkt/jobs/j/data/0000000-a.png": "images/a.png", "/abs/images/a.png": "images/a.png"}


def test_a_pipeline_message_names_the_users_files_and_options():
    request = runner.RunRequest(manifest=Path("data/notes.manifest"), task_type="text-classification",
                                labels=Path("topics.json"), output=Path("out"))
    message = ("jobs/j/input.manifest has 2 invalid line(s) of 4 (50.0%, over the job's MaxInvalidLinePercentage "
               "of 10%); fix them, or raise MaxInvalidLinePercentage in job.json to label the rest:\n"
               "line 2: source-ref 's3://bkt/jobs/j/data/0000000-a.png' is not an image; "
               "s3://bkt/jobs/j/labels.json; jobs/j/job.json: CalibrationSampleSize 30 is too small")
    assert runner._in_users_terms(message, request, "bkt", JobLayout("jobs/j"), _Media()) == (
        "data/notes.manifest has 2 invalid line(s) of 4 (50.0%, over the job's --max-invalid-line-percentage "
        "of 10%); fix them, or raise --max-invalid-line-percentage to label the rest:\n"
        "line 2: source-ref 'images/a.png' is not an image; topics.json; "
        "the job settings (command-line options): --calibration-sample-size 30 is too small")


def test_a_completed_job_says_how_many_lines_could_not_be_labeled(capsys):
    request = runner.RunRequest(manifest=Path("notes.manifest"), task_type="text-classification",
                                labels=Path("t.json"), output=Path("out"))
    counters = {"TotalLabeled": 9, "HumanLabeled": 9, "MachineLabeled": 0, "FailedNonRetryableError": 2}
    runner._completed("j", {"counters": counters}, request, 1.0, __import__("sys").stdout)
    assert capsys.readouterr().out.splitlines()[1] == (
        f"2 line(s) of notes.manifest could not be labeled (see {Path('out') / 'report.md'})")


# ------------------------------------------- through the local cloud (2 runs) ----

def test_a_failed_job_prints_one_reason_naming_the_users_manifest_then_the_logs(job, capsys, synthesized_app):
    _write_lines(job["manifest"], [json.dumps({"source": TEXTS[0]}), '{"source": ', json.dumps({"source": TEXTS[1]}),
                                   json.dumps({"text": TEXTS[2]})])
    work = job["output"].parent / "work"
    code = cli.main(_argv(job, "--job-name", "bad-lines", "--workdir", str(work)), app=synthesized_app)
    captured = capsys.readouterr()
    assert code == 1, captured
    err = captured.err
    # The pipeline refused the manifest (half its lines are bad): its message, about the user's file.
    assert err.startswith(f"autolabel: job bad-lines failed: {job['manifest']} has 2 invalid line(s) of 4"), err
    assert "--max-invalid-line-percentage" in err
    assert "line 2: is not valid JSON" in err and "line 4: has no 'source' key" in err
    assert "jobs/bad-lines" not in err and "s3://" not in err
    assert "Traceback" not in err and "FailureEventException" not in err  # moto's dump went to the log
    assert err.endswith(f"\nautolabel: logs are in {work / 'logs'}\n")
    assert "FailureEventException" in (work / "logs" / "engine.log").read_text()
    assert json.loads((job["output"] / "failure.json").read_text())["error"] == "ManifestError"
    assert "failure.json" in json.loads((job["output"] / MARKER).read_text())["files"]


def test_a_rerun_with_overwrite_replaces_only_its_own_files_and_counts_bad_lines(
        tmp_path, capsys, monkeypatch, synthesized_app):
    monkeypatch.chdir(tmp_path)  # every path relative, as a user types them
    texts = [f"{text} ({n})" for n in range(2) for text in TEXTS]
    labels = Path("topics.json")
    labels.write_text(json.dumps({"labels": [{"label": n} for n in NAMES]}))
    _write_lines(Path("notes.manifest"), [*(json.dumps({"source": t}) for t in texts[:6]), '{"source": ',
                                          *(json.dumps({"source": t}) for t in texts[6:])])
    _write_lines(Path("gold.manifest"), [json.dumps(_answer(t, i % 3)) for i, t in enumerate(texts)])
    out = Path("out")
    out.mkdir()
    (out / "stale.txt").write_text("an earlier run's")
    (out / "mine.txt").write_text("the user's")
    (out / MARKER).write_text(json.dumps({"files": ["stale.txt"]}))
    code = cli.main(["run", "notes.manifest", "--task-type", "text-classification", "--labels", "topics.json",
                     "--answers", "gold.manifest", "--output", "out", "--overwrite", "--workdir", "work",
                     "--human-batch-size", "11", "--calibration-sample-size", "10"], app=synthesized_app)
    captured = capsys.readouterr()
    assert code == 0, captured
    assert "Traceback" not in captured.err + captured.out
    assert f"1 line(s) of notes.manifest could not be labeled (see {out / 'report.md'})" in captured.out
    assert not (out / "stale.txt").exists() and (out / "mine.txt").read_text() == "the user's"
    report = json.loads((out / "report.json").read_text())
    assert report["counters"]["HumanLabeled"] == 12
    assert "report.json" in json.loads((out / MARKER).read_text())["files"]


def test_a_job_config_sets_what_no_option_does_and_the_options_override_it(tmp_path, capsys, synthesized_app):
    """The job.json a deployed job takes, locally: here a stopping condition (no option sets one) and a batch
    size the option overrides; its TaskType stands in for --task-type."""
    folder = tmp_path / "job"
    folder.mkdir()
    texts = [f"{text} ({n})" for n in range(4) for text in TEXTS]
    labels = folder / "topics.json"
    labels.write_text(json.dumps({"labels": [{"label": n} for n in NAMES]}))
    manifest = _write_lines(folder / "notes.manifest", [json.dumps({"source": t}) for t in texts])
    answers = _write_lines(folder / "gold.manifest", [json.dumps(_answer(t, i % 3)) for i, t in enumerate(texts)])
    settings = folder / "job.json"
    written = json.dumps({"TaskType": "text-classification", "MaxConcurrentTaskCount": 20, "CalibrationSampleSize": 10,
                          "StoppingConditions": {"MaxHumanLabeledObjectCount": 15}})
    settings.write_text(written)
    code = cli.main(["run", str(manifest), "--labels", str(labels), "--answers", str(answers),
                     "--output", str(tmp_path / "out"), "--job-config", str(settings), "--human-batch-size", "11"],
                    app=synthesized_app)
    captured = capsys.readouterr()
    assert code == 0, captured
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert (report["counters"]["HumanLabeled"], report["counters"]["Unlabeled"]) == (15, 9)
    # A batch of 11 (the option), then the 4 the cap leaves; the file's 20 would have been one batch of 15.
    assert len(report["iterations"]) == 2, report["iterations"]
    assert settings.read_text() == written  # the user's file is left as it was


class TestResume:
    """`autolabel resume DIR`: what it refuses, before anything starts."""

    @staticmethod
    def _unfinished(job: dict[str, Path], **record) -> Path:
        """An output folder as a run that was stopped or killed leaves it (its workdir and run.json)."""
        request = runner.RunRequest(manifest=job["manifest"], task_type="text-classification", labels=job["labels"],
                                    answers=job["answers"], output=job["output"])
        workdir = job["output"] / WORKDIR
        workdir.mkdir(parents=True)
        RunRecord(request=request_fields(request), job="notes", inputs=input_fingerprints(request), started=True,
                  **record).save(workdir)
        return job["output"]

    def test_a_folder_with_no_job_is_refused_saying_what_to_give(self, job, tmp_path, capsys):
        error = _refused(["resume", str(tmp_path)], capsys)
        assert f"{tmp_path} holds no job to resume: give the --output folder of an autolabel run" in error

    def test_an_input_changed_since_the_job_started_is_refused_naming_it(self, job, capsys):
        output = self._unfinished(job)
        job["labels"].write_text(json.dumps({"document-version": "2018-11-28", "labels": [{"label": "x"},
                                                                                          {"label": "y"}]}))
        error = _refused(["resume", str(output)], capsys)
        assert f"{job['labels'].absolute()} changed since job notes started" in error and "--overwrite" in error

    def test_a_missing_input_is_refused_naming_it(self, job, capsys):
        output = self._unfinished(job)
        job["answers"].unlink()
        assert f"answers file {job['answers'].absolute()} does not exist" in _refused(["resume", str(output)], capsys)

    def test_a_complete_job_is_not_run_again(self, job, capsys):
        output = self._unfinished(job, completed=True)
        assert f"job notes is complete; its output is in {output}" in _refused(["resume", str(output)], capsys)

    def test_a_new_run_into_an_unfinished_jobs_folder_is_refused_pointing_to_resume(self, job, capsys):
        output = self._unfinished(job)
        before = _contents(output)
        error = _refused(_argv(job), capsys, before=before, folder=output)
        assert f"`autolabel resume {output}` continues it, or add --overwrite" in error

    def test_a_new_run_into_a_stopped_jobs_folder_with_its_outputs_so_far_points_to_resume(self, job, capsys):
        output = self._unfinished(job)
        (output / "report.json").write_text('{"status": "Stopped"}')  # what a stop publishes, and its list
        (output / MARKER).write_text(json.dumps({"files": ["report.json"]}))
        before = _contents(output)
        error = _refused(_argv(job), capsys, before=before, folder=output)
        assert f"`autolabel resume {output}` continues it" in error
