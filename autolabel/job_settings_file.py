"""A job.json given on the command line (`autolabel run --job-config`, `autolabel submit --job-config`).

Both commands read it here, so a file that is missing, not JSON or not an object gets the same
message from either; the fields themselves are checked afterwards by ValidateJob's own parser
(labeling.logic.job_setup.parse_job_config), with the options that override them applied first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EXAMPLE = "events/job.json is an example"


class JobSettingsFileError(ValueError):
    """The file cannot be job settings; the message names it and says why."""


def read_job_settings(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise JobSettingsFileError(
            f"job settings file {path} {'is a folder, not a file' if path.is_dir() else 'does not exist'}")
    try:
        settings = json.loads(path.read_text(encoding="utf-8-sig"))  # -sig: a BOM some editors write
    except (ValueError, UnicodeDecodeError) as error:
        raise JobSettingsFileError(f"job settings file {path} is not JSON ({error}); {EXAMPLE}") from None
    if not isinstance(settings, dict):
        raise JobSettingsFileError(f"job settings file {path} is not a JSON object; {EXAMPLE}")
    return settings
