"""`autolabel run ... --workforce web` in its own process, as a user starts it, with what it prints."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time


class WebRun:
    def __init__(self, run_arguments: list[str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "autolabel.cli", "run", *run_arguments, "--workforce", "web"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
        )
        self.printed: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.printed.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.printed)

    def sign_in_link(self, worker: int = 1, timeout: float = 120) -> str:
        """The link the run prints for `worker`; fails when the run ends or prints none in time."""
        pattern = re.compile(rf"worker {worker}: (http://127\.0\.0\.1:\d+/\?login=\S+)")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.printed:
                found = pattern.search(line)
                if found:
                    return found[1]
            if self.process.poll() is not None:
                raise AssertionError(f"autolabel run ended without a sign-in link:\n{self.output}")
            time.sleep(0.2)
        raise AssertionError(f"no sign-in link printed:\n{self.output}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
