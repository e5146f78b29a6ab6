"""report.md: report.json for a person to read (logic/report_summary.py)."""

from labeling.logic.output import Counters
from labeling.logic.report import IterationLabels
from labeling.logic.report_summary import markdown
from tests.unit.test_report import MODEL, SETTINGS, SUMMARIES, report


def test_heading_names_the_job_and_its_status():
    assert markdown(report()).splitlines()[0] == "# Labeling job bbc-news: Completed"
    stopped = markdown(report(stop_reason="MaxHumanLabeledObjectCount"))
    assert stopped.splitlines()[0] == "# Labeling job bbc-news: Stopped (MaxHumanLabeledObjectCount)"


def test_says_who_labeled_how_many_items():
    assert ("1,600 items: 600 labeled by humans (38%), 1,000 by the model (62%), 0 left unlabeled."
            in markdown(report()))


def test_one_table_row_per_iteration_and_a_total_row():
    text = markdown(report())
    assert "| 0 | 200 | 100 | 0 | none passed | – | – | 0 / 100 | 1,400 | 900 | 180 |" in text
    assert "| 1 | 200 | 100 | 700 | 0.9 | 98.0% | 95.5% | 60 / 100 | 500 | 1,800 | 360 |" in text
    assert "| 2 | 150 | 100 | 300 | 0.85 | 96.0% | 95.1% | 75 / 100 | 50 | 900 | 180 |" in text
    assert "| 3 | 50 | 0 | 0 | no model | – | – | – | 0 | 0 | 0 |" in text
    assert "| **total** | **600** | 300 | **1,000** |  |  |  |  | 0 | 3,600 | 720 |" in text


def test_states_the_promise_in_words():
    assert ("Machine labels: 1,000 items, estimated 97.4% correct, at least 95.1% with 95% confidence "
            "per iteration (target 95%)." in markdown(report()))


def test_a_human_only_job_promises_nothing_about_machine_labels():
    text = markdown(report(automated=False, counters=Counters(TotalLabeled=60, HumanLabeled=60),
                           labels=[IterationLabels(human=60, human_answers=60)], summaries=[None]))
    assert "Machine labels: none; humans labeled every item." in text
    assert "human labeling only" in text


def test_cost_per_instance_type_beside_labeling_everything_by_hand():
    text = markdown(report())
    assert "| human answers | 600 | $0.08 each | $48.00 |" in text
    assert "| training on ml.c5.2xlarge | 1.00 instance-hours | $0.408 per hour | $0.41 |" in text
    assert "| transform on ml.m4.xlarge | 0.20 instance-hours | $0.24 per hour | $0.05 |" in text
    assert "| **this job** | | | **$48.46** |" in text
    assert "| every item labeled by hand | 1,600 answers | $0.08 each | $128.00 |" in text
    assert "Saved against labeling every item by hand: $79.54 (62%)." in text
    assert "Instance-hours are the run time of the job's SageMaker training and transform jobs" in text


def test_links_the_plot_only_when_there_is_one():
    assert "![Accuracy against coverage](accuracy-coverage.png)" in markdown(report(), plot="accuracy-coverage.png")
    assert "![" not in markdown(report())


def test_names_the_final_model_and_how_to_start_a_job_from_it():
    text = markdown(report(final_model=MODEL))
    assert "## Final model" in text
    assert (f"`bbc-news-a1b2c3-2-model`, the model of iteration 2 (text-classification, served on ml.m4.xlarge): "
            f"`{MODEL.model_arn}`, its artifact `{MODEL.model_artifacts}`.") in text
    assert f'`"InitialActiveLearningModelArn": "{MODEL.model_arn}"`' in text


def test_a_human_only_job_has_no_final_model():
    text = markdown(report(automated=False, counters=Counters(TotalLabeled=60, HumanLabeled=60),
                           labels=[IterationLabels(human=60, human_answers=60)], summaries=[None]))
    assert "## Final model\n\nNone: no model was trained (the job labeled by humans only)." in text


def test_says_which_iteration_the_initial_model_labeled():
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model/earlier-a1b2c3-1-model"
    settings = SETTINGS.model_copy(update={"InitialActiveLearningModelArn": arn})
    summaries = [{**SUMMARIES[0], "initialModel": True}, *SUMMARIES[1:]]
    text = markdown(report(settings=settings, summaries=summaries, final_model=MODEL))
    assert f"Iteration 0 labeled with the initial model `{arn}` (job.json's InitialActiveLearningModelArn)" in text
