"""Which uploads start a job, and what a bad job name tells the user."""

import pytest

from labeling.layout import InvalidJobNameError, job_name_from_key


@pytest.mark.parametrize("key,job", [("jobs/bbc-news/input.manifest", "bbc-news"), ("jobs/A1/input.manifest", "A1")])
def test_the_job_is_the_folder_under_jobs(key, job):
    assert job_name_from_key(key) == job


@pytest.mark.parametrize("key", [
    "jobs/my job/input.manifest", "jobs/-bad/input.manifest", "jobs/" + "x" * 41 + "/input.manifest",
    "jobs/a_b/input.manifest",
])
def test_names_sagemaker_cannot_use_are_refused_with_the_rule(key):
    with pytest.raises(InvalidJobNameError, match="use 1-40 letters, digits or hyphens"):
        job_name_from_key(key)


@pytest.mark.parametrize("key", ["jobs/a/b/input.manifest", "jobs/a/other.manifest", "input.manifest"])
def test_other_keys_are_not_job_manifests(key):
    with pytest.raises(InvalidJobNameError, match="upload it as jobs/<job>/input.manifest"):
        job_name_from_key(key)
