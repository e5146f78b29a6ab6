"""SageMaker inference entry point: batch transform sends one {"source": ...} per line.

The answer per line: {"label", "confidence", "scores", "sketch"} (predictor.py); the HTTP
side and the ordering are ml_container.server's.
"""
from ml_container import server

from .embedding import Embedder
from .predictor import Predictor

SOURCE_KEY = "source"


def main() -> None:
    server.main(lambda model_dir: Predictor.load(model_dir, Embedder.from_env()), SOURCE_KEY,
                lambda p: f"{p.label_count} labels")
