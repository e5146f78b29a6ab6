from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
CONTAINERS_DIR = ROOT / "containers"
WEB_DIR = ROOT / "web"  # the labeling page (docs/task-api.md)
