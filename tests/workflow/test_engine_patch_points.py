"""The local engine patches private internals of moto: fail loudly when they move."""

from importlib.metadata import version

from autolabel.localcloud import engine


def test_moto_is_the_pinned_version():
    assert version("moto") == "5.2.5", "the local engine patches moto 5.2.5 internals; re-check every patch point"


def test_every_patch_point_still_exists():
    for name, lookup in engine.PATCH_POINTS.items():
        assert lookup() is not None, name


def test_sagemaker_is_still_missing_from_the_interpreter_so_our_integration_is_needed():
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_factory

    assert "sagemaker" in state_task_service_factory._UNSUPPORTED_SERVICE_NAMES


def test_each_local_cloud_runs_sagemaker_jobs_once_with_its_own_emulator(tmp_path):
    # A second local cloud in the same process (tests, notebooks) once wrapped the first one's
    # emulator, so every job also ran under the stopped cloud's settings (its S3 endpoint gone).
    from moto.sagemaker.models import SageMakerModelBackend

    from autolabel.localcloud.sagemaker import _MOTO_CREATE_TRAINING_JOB, LocalSageMaker

    def emulators_in(function):
        return [cell.cell_contents for cell in function.__closure__ or ()
                if isinstance(cell.cell_contents, LocalSageMaker)]

    first, second = LocalSageMaker({}, tmp_path, {}), LocalSageMaker({}, tmp_path, {})
    try:
        first.install()
        second.install()
        assert emulators_in(SageMakerModelBackend.create_training_job) == [second]
        original = [c.cell_contents for c in SageMakerModelBackend.create_training_job.__closure__
                    if c.cell_contents is _MOTO_CREATE_TRAINING_JOB]
        assert original, "the emulator must wrap moto's own create_training_job"
    finally:
        LocalSageMaker.uninstall()
    assert SageMakerModelBackend.create_training_job is _MOTO_CREATE_TRAINING_JOB
