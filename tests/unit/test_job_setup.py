"""What a user uploads beside the manifest, and how the job runs
(logic/job_setup.py, models/job.py, task_types.py)."""

import json

import pytest

from labeling.logic.job_setup import (
    JobSetupError,
    check_items,
    check_task_type_available,
    is_automated,
    parse_job_config,
    parse_label_categories,
)
from labeling.logic.manifest import ManifestError
from labeling.models.job import AUTOMATED_LABELING_MIN_ITEMS, JobConfig
from labeling.task_types import TASK_TYPES, UnknownTaskTypeError, task_type

EXPECTED_LABELS = '{"document-version": "2018-11-28", "labels": [{"label": "a"}, {"label": "b"}]}'


class TestJobConfig:
    def test_only_the_task_type_is_required(self):
        config = parse_job_config({"TaskType": "text-classification"}, "job.json")
        assert config.model_dump() == {
            "TaskType": "text-classification",
            "LabelAttributeName": "label",
            "TargetAccuracy": 0.95,
            "TargetMeanIoU": 0.6,
            "ConfidenceLevel": 0.95,
            "Promise": "EachIteration",
            "MaxConcurrentTaskCount": 150,
            "CalibrationSampleSize": 100,
            "NumberOfHumanWorkersPerDataObject": 1,
            "Instructions": None,
            "TaskTimeLimitInSeconds": 300,
            "TaskAvailabilityLifetimeInSeconds": 864_000,
            "ActiveLearningStrategy": "margin",
            "NearDuplicateMaxBits": 8,
            "StoppingConditions": None,
            "OutOfReachIterations": 3,
            "StopTrainingWhenOutOfReach": True,
            "Seed": 0,
            "HumanPricePerAnswerUSD": 0.08,
            "MaxInvalidLinePercentage": 10.0,
            "MaxTransformInstanceCount": 1,
            "AuditSampleSize": 0,
            "InitialActiveLearningModelArn": None,
        }

    def test_settings_are_read_from_job_json(self):
        raw = json.loads(
            '{"TaskType": "image-classification", "LabelAttributeName": "animal", "TargetAccuracy": 0.9,'
            ' "ConfidenceLevel": 0.99, "MaxConcurrentTaskCount": 500, "CalibrationSampleSize": 150,'
            ' "NumberOfHumanWorkersPerDataObject": 3, "Seed": 42, "HumanPricePerAnswerUSD": 0.12}'
        )
        config = parse_job_config(raw, "job.json")
        assert (config.TaskType, config.LabelAttributeName, config.MaxConcurrentTaskCount) == (
            "image-classification", "animal", 500)
        assert (config.CalibrationSampleSize, config.NumberOfHumanWorkersPerDataObject, config.Seed) == (150, 3, 42)

    def test_missing_task_type(self):
        with pytest.raises(JobSetupError, match=r"^job.json is invalid: TaskType: Field required$"):
            parse_job_config({}, "job.json")

    def test_unknown_task_type_lists_the_known_ones(self):
        with pytest.raises(JobSetupError) as raised:
            parse_job_config({"TaskType": "audio-transcription"}, "jobs/a/job.json")
        assert str(raised.value) == (
            "jobs/a/job.json is invalid: TaskType: Value error, must be one of "
            "['image-classification', 'object-detection', 'text-classification']"
        )

    @pytest.mark.parametrize("batch,calibration", [(100, 100), (50, 100), (200, 300)])
    def test_calibration_sample_must_be_smaller_than_the_batch(self, batch, calibration):
        raw = {"TaskType": "text-classification", "MaxConcurrentTaskCount": batch, "CalibrationSampleSize": calibration}
        with pytest.raises(JobSetupError) as raised:
            parse_job_config(raw, "job.json")
        assert str(raised.value) == (
            "job.json is invalid: (file): Value error, CalibrationSampleSize must be smaller than "
            "MaxConcurrentTaskCount, so that each human batch also holds the most ambiguous items"
        )

    def test_calibration_just_below_the_batch_is_accepted(self):
        config = JobConfig(TaskType="text-classification", MaxConcurrentTaskCount=101, CalibrationSampleSize=100)
        assert config.CalibrationSampleSize == 100

    def test_unknown_setting_is_named(self):
        with pytest.raises(JobSetupError, match=r"^job.json is invalid: MaxBatch: Extra inputs are not permitted$"):
            parse_job_config({"TaskType": "text-classification", "MaxBatch": 10}, "job.json")

    @pytest.mark.parametrize("field,value", [
        ("TargetAccuracy", 1.0), ("TargetAccuracy", 0.4), ("ConfidenceLevel", 1.0), ("ConfidenceLevel", 0.3),
        ("MaxConcurrentTaskCount", 5), ("MaxConcurrentTaskCount", 20_000), ("CalibrationSampleSize", 5),
        ("NumberOfHumanWorkersPerDataObject", 0), ("NumberOfHumanWorkersPerDataObject", 10),
        ("HumanPricePerAnswerUSD", -0.01), ("LabelAttributeName", "my label"), ("LabelAttributeName", ""),
        ("AuditSampleSize", -1), ("AuditSampleSize", 5_001),
    ])
    def test_out_of_range_setting_is_named(self, field, value):
        with pytest.raises(JobSetupError, match=rf"^job.json is invalid: {field}: "):
            parse_job_config({"TaskType": "text-classification", field: value}, "job.json")

    def test_active_learning_options_are_read(self):
        config = parse_job_config({"TaskType": "text-classification", "ActiveLearningStrategy": "entropy",
                                   "NearDuplicateMaxBits": 0}, "job.json")
        assert (config.ActiveLearningStrategy, config.NearDuplicateMaxBits) == ("entropy", 0)

    @pytest.mark.parametrize("field,value", [
        ("ActiveLearningStrategy", "least-confidence"), ("NearDuplicateMaxBits", -1), ("NearDuplicateMaxBits", 65),
    ])
    def test_bad_active_learning_option_is_named(self, field, value):
        with pytest.raises(JobSetupError, match=rf"^job.json is invalid: {field}: "):
            parse_job_config({"TaskType": "text-classification", field: value}, "job.json")

    def test_stopping_conditions_are_ground_truths(self):
        raw = json.loads('{"TaskType": "text-classification", "StoppingConditions":'
                         ' {"MaxHumanLabeledObjectCount": 500, "MaxPercentageOfInputDatasetLabeled": 90}}')
        conditions = parse_job_config(raw, "job.json").StoppingConditions
        assert (conditions.MaxHumanLabeledObjectCount, conditions.MaxPercentageOfInputDatasetLabeled) == (500, 90)
        only_one = parse_job_config({"TaskType": "text-classification",
                                     "StoppingConditions": {"MaxPercentageOfInputDatasetLabeled": 100}}, "job.json")
        assert only_one.StoppingConditions.MaxHumanLabeledObjectCount is None

    @pytest.mark.parametrize("conditions,named", [
        ({"MaxHumanLabeledObjectCount": 0}, "StoppingConditions.MaxHumanLabeledObjectCount: Input should be greater"),
        ({"MaxHumanLabeledObjectCount": 2.5}, "StoppingConditions.MaxHumanLabeledObjectCount: Input should be a valid"),
        ({"MaxPercentageOfInputDatasetLabeled": 0}, "StoppingConditions.MaxPercentageOfInputDatasetLabeled: "),
        ({"MaxPercentageOfInputDatasetLabeled": 101},
         "StoppingConditions.MaxPercentageOfInputDatasetLabeled: Input should be less than or equal to 100"),
        ({"MaxHumanCount": 10}, "StoppingConditions.MaxHumanCount: Extra inputs are not permitted"),
    ])
    def test_bad_stopping_condition_is_named(self, conditions, named):
        with pytest.raises(JobSetupError) as raised:
            parse_job_config({"TaskType": "text-classification", "StoppingConditions": conditions}, "job.json")
        assert str(raised.value).startswith(f"job.json is invalid: {named}")

    def test_several_problems_are_all_listed(self):
        with pytest.raises(JobSetupError) as raised:
            parse_job_config({"TaskType": "nope", "TargetAccuracy": 2}, "job.json")
        assert "TaskType: " in str(raised.value) and "; TargetAccuracy: " in str(raised.value)

    def test_job_json_must_be_an_object(self):
        with pytest.raises(JobSetupError, match=r"^job.json is invalid: \(file\): Input should be a valid dictionary"):
            parse_job_config(["text-classification"], "job.json")

    def test_setup_error_is_a_value_error(self):
        assert issubclass(JobSetupError, ValueError)


class TestLabelCategories:
    def test_reads_ground_truths_label_category_format(self):
        raw = {"document-version": "2018-11-28", "labels": [{"label": "business"}, {"label": "sport"}]}
        categories = parse_label_categories(raw, "labels.json")
        assert categories.names == ["business", "sport"]
        assert categories.document_version == "2018-11-28"

    def test_document_version_is_optional(self):
        categories = parse_label_categories({"labels": [{"label": "a"}, {"label": "b"}]}, "labels.json")
        assert categories.document_version == "2018-11-28"

    def test_duplicate_labels_are_named(self):
        raw = {"labels": [{"label": "cat"}, {"label": "dog"}, {"label": "cat"}, {"label": "bird"}, {"label": "dog"}]}
        with pytest.raises(JobSetupError) as raised:
            parse_label_categories(raw, "labels.json")
        assert str(raised.value) == (
            "labels.json is invalid: labels: Value error, duplicate labels: ['cat', 'dog']; expected " + EXPECTED_LABELS
        )

    def test_at_least_two_labels(self):
        with pytest.raises(JobSetupError, match=r"^labels.json is invalid: labels: List should have at least 2 items"):
            parse_label_categories({"labels": [{"label": "only"}]}, "labels.json")

    def test_empty_label_name_is_named_by_position(self):
        with pytest.raises(JobSetupError, match=r"^labels.json is invalid: labels.1.label: "):
            parse_label_categories({"labels": [{"label": "a"}, {"label": ""}]}, "labels.json")

    def test_error_shows_the_expected_format(self):
        with pytest.raises(JobSetupError) as raised:
            parse_label_categories({}, "labels.json")
        assert str(raised.value) == "labels.json is invalid: labels: Field required; expected " + EXPECTED_LABELS


class TestTaskTypes:
    def test_deployment_without_the_container_is_refused(self):
        config = JobConfig(TaskType="image-classification")
        with pytest.raises(JobSetupError) as raised:
            check_task_type_available(config, ["text-classification"], "job.json")
        assert str(raised.value) == (
            "job.json asks for TaskType 'image-classification', but this deployment has no model "
            "container for it; available: text-classification"
        )

    def test_deployment_with_no_containers_says_none(self):
        with pytest.raises(JobSetupError, match=r"available: none$"):
            check_task_type_available(JobConfig(TaskType="text-classification"), [], "job.json")

    def test_available_task_type_passes(self):
        check_task_type_available(JobConfig(TaskType="text-classification"),
                                  ["image-classification", "text-classification"], "job.json")

    def test_table_pins_ground_truth_types_and_source_keys(self):
        assert {name: (t.groundtruth_type, t.source_key) for name, t in TASK_TYPES.items()} == {
            "image-classification": ("groundtruth/image-classification", "source-ref"),
            "object-detection": ("groundtruth/object-detection", "source-ref"),
            "text-classification": ("groundtruth/text-classification", "source"),
        }

    def test_table_pins_the_product_instances(self):
        # The contract of ARCHITECTURE.md; the template test checks the state machine against this table.
        assert {name: (t.training_instance, t.inference_instance) for name, t in TASK_TYPES.items()} == {
            "image-classification": ("ml.p3.2xlarge", "ml.c5.xlarge"),
            "object-detection": ("ml.p3.2xlarge", "ml.c5.4xlarge"),
            "text-classification": ("ml.c5.2xlarge", "ml.m4.xlarge"),
        }

    def test_unknown_task_type_lookup_names_the_fix(self):
        with pytest.raises(UnknownTaskTypeError) as raised:
            task_type("video")
        assert str(raised.value) == (
            "unknown task type 'video'; set TaskType in job.json to one of: "
            "image-classification, object-detection, text-classification"
        )


class TestCheckItems:
    def test_counts_the_items_of_a_valid_manifest(self):
        lines = [json.dumps({"source": f"text {i}"}) for i in range(1300)] + [""]
        assert check_items(lines, JobConfig(TaskType="text-classification"), "input.manifest").items == 1300

    def test_image_task_reads_source_ref(self):
        lines = ['{"source-ref": "s3://b/1.jpg"}', '{"source": "text"}']
        with pytest.raises(ManifestError, match=r"line 2: has no 'source-ref' key \(it has 'source'"):
            check_items(lines, JobConfig(TaskType="image-classification"), "input.manifest")

    def test_empty_manifest_is_refused(self):
        with pytest.raises(ManifestError, match="has no items"):
            check_items([], JobConfig(TaskType="text-classification"), "input.manifest")


class TestAutomatedLabeling:
    config = JobConfig(TaskType="text-classification")

    def test_runs_from_1250_items_like_ground_truth(self):
        assert AUTOMATED_LABELING_MIN_ITEMS == 1250
        assert is_automated(1249, self.config, "job.json") is False
        assert is_automated(1250, self.config, "job.json") is True
        assert is_automated(100_000, self.config, "job.json") is True
        assert is_automated(0, self.config, "job.json") is False

    @pytest.mark.parametrize("target,confidence,needed", [(0.95, 0.95, 59), (0.99, 0.95, 299), (0.9, 0.99, 44)])
    def test_a_calibration_sample_too_small_to_ever_keep_the_promise_is_refused(self, target, confidence, needed):
        raw = {"TaskType": "text-classification", "TargetAccuracy": target, "ConfidenceLevel": confidence,
               "MaxConcurrentTaskCount": 1000, "CalibrationSampleSize": needed - 1}
        too_small = parse_job_config(raw, "job.json")
        with pytest.raises(JobSetupError, match=f"raise it to {needed} or more"):
            is_automated(5000, too_small, "job.json")
        assert is_automated(1000, too_small, "job.json") is False  # human-only jobs do not calibrate
        enough = parse_job_config({**raw, "CalibrationSampleSize": needed}, "job.json")
        assert is_automated(5000, enough, "job.json") is True
