"""Powertools Logger, Tracer and Metrics shared by every handler.

Service and namespace are set here, not only through the environment, so a
handler imported before its environment is set (tests, the local cloud) still
logs and emits metrics under the right names; infra reads the same constants.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE_NAME = "autolabel"
METRICS_NAMESPACE = "Autolabel"

logger = Logger(service=SERVICE_NAME)
tracer = Tracer(service=SERVICE_NAME)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
