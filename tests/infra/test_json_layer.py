"""The JSON layer: orjson on every function, pinned as the local cloud and the tests run it."""

from __future__ import annotations

import tomllib
from importlib.metadata import version

from infra.constructs.functions import JSON_LAYER_DIR


def _resources(template, kind: str) -> dict:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == kind}


def test_every_labeling_function_carries_the_json_layer(template):
    layers = _resources(template, "AWS::Lambda::LayerVersion")
    (layer_id,) = [lid for lid in layers if lid.startswith("FunctionsJsonLayer")]
    ours = [f["Properties"] for f in _resources(template, "AWS::Lambda::Function").values()
            if f["Properties"].get("Handler", "").startswith("labeling.")]
    assert ours and all({"Ref": layer_id} in props["Layers"] for props in ours)


def test_the_layer_pins_the_orjson_the_local_cloud_runs_with():
    requirements = (JSON_LAYER_DIR / "requirements.txt").read_text().splitlines()
    (pin,) = [line for line in requirements if line.startswith("orjson==")]
    dependencies = tomllib.loads((JSON_LAYER_DIR.parents[2] / "pyproject.toml").read_text())["project"]["dependencies"]
    assert pin in dependencies and pin == f"orjson=={version('orjson')}"
