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
