"""Powertools' EMF output read back: the metrics a handler emitted, as CloudWatch would extract them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from labeling.observability import JOB_DIMENSION, METRICS_NAMESPACE


@dataclass(frozen=True)
class MetricPoint:
    name: str
    value: float
    unit: str
    dimensions: dict[str, str]  # one dimension set of the record, with its values

    @property
    def job(self) -> str | None:
        return self.dimensions.get(JOB_DIMENSION)


def emf_points(lines: Iterable[str]) -> list[MetricPoint]:
    """Every metric point of the EMF records among `lines` (other log lines are skipped), one per
    metric and dimension set, a list of values as one point per value (as CloudWatch counts them)."""
    points = []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict) or "_aws" not in record:
            continue
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == METRICS_NAMESPACE, directive
            for dimension_set in directive["Dimensions"]:
                dimensions = {name: record[name] for name in dimension_set}
                for metric in directive["Metrics"]:
                    values = record[metric["Name"]]
                    for value in values if isinstance(values, list) else [values]:
                        points.append(MetricPoint(metric["Name"], value, metric["Unit"], dimensions))
    return points


def per_job(points: Iterable[MetricPoint], name: str, job: str) -> list[float]:
    return [p.value for p in points if p.name == name and p.job == job]


def stack_wide(points: Iterable[MetricPoint], name: str) -> list[float]:
    """The points of `name` with the service dimension alone: what the alarms and stack-wide graphs read."""
    return [p.value for p in points if p.name == name and set(p.dimensions) == {"service"}]
