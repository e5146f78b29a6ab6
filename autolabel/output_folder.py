"""`autolabel run --output DIR`: where a job's results go, without touching anyone's files.

DIR must be a new or empty folder. A run writes a marker file there listing every file
it wrote; `--overwrite` then lets a later run replace exactly those files, and only
those: a folder without a marker is refused even with `--overwrite`, and a file of
someone else's in the way of a result is kept (the result stays in the workdir).
All checks happen before the job starts, so a refusal costs nothing.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

MARKER = ".autolabel-output.json"
WORKDIR = ".autolabel"  # where a run keeps its state, inside its output folder (run_record.py)
RUN_RECORD = "run.json"  # what the run was asked, and whether its job completed (run_record.py)


def _unfinished(workdir: Path) -> bool:
    """Whether the run whose workdir this is stopped, failed or was killed (its run.json says)."""
    try:
        return not json.loads((workdir / RUN_RECORD).read_text(encoding="utf-8")).get("completed", False)
    except (OSError, ValueError, AttributeError):
        return False


class OutputFolderError(ValueError):
    """--output cannot be used as it is; the message says why and what to give instead."""


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _is_within(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a symlink loop, a path the system cannot resolve
        return False


class OutputFolder:
    def __init__(self, path: Path, *, overwrite: bool = False, keep: Iterable[Path] = ()):
        self.path = path.absolute()
        self.name = str(path)
        self.overwrite = overwrite
        # The job's own input files: never deleted or replaced, whatever a marker says.
        self.keep = {p.resolve() for p in keep}
        self.previous: list[str] = []  # what an earlier run wrote here (its marker)

    @property
    def marker(self) -> Path:
        return self.path / MARKER

    def check(self) -> None:
        """Refuse an output that would cost the user a file; call before the job starts."""
        if self.path.exists() and not self.path.is_dir():
            raise OutputFolderError(f"--output {self.name} is a file, not a folder; give a new or empty folder")
        existing = _nearest_existing(self.path)
        if not existing.is_dir():
            raise OutputFolderError(f"--output {self.name} cannot be made: {existing} is a file")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise OutputFolderError(f"--output {self.name} cannot be written: {existing} is not writable")
        if existing != self.path:
            return
        entries = sorted(entry.name for entry in self.path.iterdir() if entry.name != WORKDIR)
        earlier_run = (self.path / WORKDIR).is_dir()  # a run's workdir (run_record.py): ours
        if not entries and not earlier_run:
            return
        if not self.overwrite and earlier_run and (_unfinished(self.path / WORKDIR) or not self.marker.exists()):
            raise OutputFolderError(
                f"--output {self.name} holds a job that an earlier autolabel run started and did not finish; "
                f"`autolabel resume {self.name}` continues it, or add --overwrite to start it again from the "
                "beginning (nothing was changed)")
        if not entries:
            return
        if not self.overwrite:
            shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
            raise OutputFolderError(
                f"--output {self.name} is not empty ({len(entries)} {'entry' if len(entries) == 1 else 'entries'}: "
                f"{shown}); give a new or empty "
                "folder, or add --overwrite to replace what an earlier autolabel run wrote there (nothing "
                "was changed)")
        self.previous = self._listed()

    def _listed(self) -> list[str]:
        """The files the marker lists; refuses a folder that has none (autolabel did not write it)."""
        try:
            files = json.loads(self.marker.read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError, TypeError):
            raise OutputFolderError(
                f"--output {self.name} holds files that no autolabel run wrote (it has no readable {MARKER}), "
                "so --overwrite cannot tell which to replace; give a new or empty folder (nothing was "
                "changed)") from None
        return [name for name in files if isinstance(name, str) and self._ours(name)]

    def _ours(self, name: str) -> bool:
        """A marker entry that names a file inside this folder, not an input (an edited marker cannot)."""
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts or name == MARKER:
            return False
        path = self.path / relative
        return _is_within(path, self.path) and path.resolve() not in self.keep

    def _remove_previous(self) -> None:
        for name in self.previous:
            path = self.path / name
            if path.is_file() or path.is_symlink():
                path.unlink()
            for parent in path.parents:  # the folders it leaves empty
                if parent == self.path or not _is_within(parent, self.path):
                    break
                try:
                    parent.rmdir()
                except OSError:  # not empty, or already gone
                    break

    def _blocked(self, name: str) -> bool:
        """Whether a result cannot go to `name` without replacing a file that is not ours."""
        target = self.path / name
        if target.exists() or target.is_symlink() or target.resolve() in self.keep:
            return True
        return any(parent.exists() and not parent.is_dir() for parent in target.parents)

    def publish(self, staged: Path, job: str) -> list[str]:
        """Move the results under `staged` here, replacing what the earlier run wrote.

        Returns the results that stayed in `staged` because a file not ours is in their place.
        """
        self._remove_previous()
        results = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file())
        blocked = [name for name in results if self._blocked(name)]
        moving = [name for name in results if name not in blocked]
        self.path.mkdir(parents=True, exist_ok=True)
        # The marker first: if a move fails half way, the next --overwrite still knows these are ours.
        self.marker.write_text(json.dumps({
            "writtenBy": "autolabel run", "job": job,
            "note": "autolabel run --overwrite replaces these files and no others",
            "files": moving,
        }, indent=1) + "\n", encoding="utf-8")
        for name in moving:
            (self.path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(staged / name, self.path / name)
        return blocked
