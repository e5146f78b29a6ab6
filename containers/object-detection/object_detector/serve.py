"""SageMaker inference entry point: batch transform sends one {"source-ref": ...} per line.

The answer per line: {"label", "objects", "confidence", "sketch"} (predictor.py); the HTTP
side, ordering and the 400 for an unreadable image are ml_container.server's.
"""
from ml_container import server

from .predictor import Predictor

SOURCE_KEY = "source-ref"


def main() -> None:
    server.main(Predictor.load, SOURCE_KEY, Predictor.describe)
