"""The local engine patches private internals of moto: fail loudly when they move.

Checked against moto as shipped (a fresh interpreter, which no local cloud has patched) and
against the originals engine.py saved; and a local cloud must put back what it patched.
"""

import importlib
import inspect
import json
import subprocess
import sys
from importlib.metadata import version

from autolabel.localcloud import engine
from autolabel.localcloud.cloud import LocalCloud

# What a patch point is, comparable across interpreters. Run here and in a fresh interpreter.
_DESCRIBE = """
import inspect, types

def describe(value):
    if isinstance(value, types.ModuleType):
        return {"kind": "module", "name": value.__name__}
    if inspect.isfunction(value):
        return {"kind": "function", "module": value.__module__, "qualname": value.__qualname__,
                "parameters": list(inspect.signature(value).parameters)}
    return {"kind": type(value).__name__, "value": repr(value)}
"""
_FRESH = _DESCRIBE + """
import importlib, json, sys

shipped = {}
for name, module, path in json.loads(sys.argv[1]):
    try:
        value = importlib.import_module(module)
        for part in path.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as error:
        shipped[name] = {"missing": repr(error)}
        continue
    shipped[name] = describe(value)
print(json.dumps(shipped))
"""
_namespace: dict = {}
exec(_DESCRIBE, _namespace)
describe = _namespace["describe"]


def _as_shipped() -> dict[str, dict]:
    """Each patch point as moto has it, in an interpreter that never imported engine.py."""
    points = [[name, point.module, point.path] for name, point in engine.PATCH_POINTS.items()]
    done = subprocess.run([sys.executable, "-c", _FRESH, json.dumps(points)],
                          capture_output=True, text=True, check=True, timeout=120)
    return json.loads(done.stdout)


def _live() -> dict:
    return {name: point.live() for name, point in engine.PATCH_POINTS.items() if point.patched}


def _same(values: dict, expected: dict) -> bool:
    return values.keys() == expected.keys() and all(values[k] is expected[k] for k in values)


def test_moto_is_the_pinned_version():
    assert version("moto") == "5.2.5", "the local engine patches moto 5.2.5 internals; re-check every patch point"


def test_every_patch_point_is_in_moto_as_shipped_with_the_signature_the_engine_relies_on():
    shipped = _as_shipped()
    for name, point in engine.PATCH_POINTS.items():
        assert "missing" not in shipped[name], (name, shipped[name])
        if point.parameters is not None:
            assert shipped[name]["kind"] == "function", name
            assert tuple(shipped[name]["parameters"]) == point.parameters, name
    assert shipped["retrier_decl.time"] == {"kind": "module", "name": "time"}
    assert shipped["dynamodb_models.copy"] == {"kind": "module", "name": "copy"}
    assert shipped["state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK"]["kind"] in ("int", "float")


def test_the_originals_engine_saved_are_moto_s_own_not_a_patch():
    shipped = _as_shipped()
    for name in engine.PATCH_POINTS:
        assert describe(engine.ORIGINALS[name]) == shipped[name], name


def test_moto_still_reads_the_patched_module_attributes_when_it_runs():
    # A module attribute that moto copied elsewhere (from x import y) would be patched in vain.
    sources = {name: inspect.getsource(importlib.import_module(point.module))
               for name, point in engine.PATCH_POINTS.items() if point.parameters is None}
    assert "time.sleep(" in sources["retrier_decl.time"]
    name = "state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK"
    assert sources[name].count("_DELAY_SECONDS_SYNC_CONDITION_CHECK") >= 2, "defined and read"
    # The one table copy the engine makes cheap: the backup of a transaction's tables.
    assert "original_table_state[table_name] = copy.deepcopy(" in sources["dynamodb_models.copy"]


def test_patches_nest_and_each_comes_out_in_any_order():
    before = _live()
    first = engine.install_lambda_dispatcher(engine.LambdaRegistry())
    second = engine.install_lambda_dispatcher(engine.LambdaRegistry())
    fast = engine.install_fast_time()
    try:
        point = engine.PATCH_POINTS["LambdaSimpleBackend.invoke"]
        assert point.live() is second[0].value  # the newest local cloud's dispatcher
        engine.uninstall(first)
        assert point.live() is second[0].value
        engine.uninstall(second)
        engine.uninstall(second)  # idempotent
        assert point.live() is before["LambdaSimpleBackend.invoke"]
        assert engine.PATCH_POINTS["retrier_decl.time"].live() is fast[0].value
    finally:
        engine.uninstall((*first, *second, *fast))
    assert _same(_live(), before)
    # With nothing installed (no local cloud running in this process), moto's originals are live.
    assert engine.installed_patches() or _same(_live(), {k: engine.ORIGINALS[k] for k in before})


def test_a_stopped_local_cloud_puts_back_what_it_patched(synthesized_app, tmp_path):
    before = _live()
    # A durable cloud (autolabel run's) patches every point: S3's writes too (durable_s3.py).
    with LocalCloud(synthesized_app, tmp_path, durable=True):
        assert all(value is not before[name] for name, value in _live().items()), "every point patched"
    assert _same(_live(), before)
    assert engine.installed_patches() or _same(_live(), {k: engine.ORIGINALS[k] for k in before})


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
