"""The local cloud's S3 objects, written through to a folder: a local job outlives its process.

In AWS a job's state is its files in S3 (and its checkpoint among them: labeling.dal.
checkpoints), so a resumed run needs nothing else; locally S3 is moto, in memory. Every
object moto stores (a PUT, a copy, a completed multipart upload) is also written to
`<root>/objects/` and recorded in `<root>/log.jsonl`, and every delete is recorded; a
new local cloud replays the log into moto before anything runs (`restore`), so `autolabel
resume` finds every file of the stopped run, whether it stopped by Ctrl-C, a failure or
SIGKILL. A file is written before its log line, and each is written whole (a temporary
file renamed), so a kill leaves at worst an object without its line: one moto had not
acknowledged either. The data is in the page cache when the call returns: it survives the
process, not a power cut (there is no fsync, which would cost each small write a disk flush).

DynamoDB (the human tasks) is not kept: a resumed run publishes its batch again and counts
the answers already published in S3 (dal/tasks.py), as a resumed run in AWS could.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from moto.s3.models import s3_backends

from autolabel.localcloud import engine
from autolabel.localcloud.asl import ACCOUNT


class DurableS3(engine.S3WriteListener):
    def __init__(self, root: Path):
        self.root = root
        self.objects = root / "objects"
        self.log = root / "log.jsonl"
        self._lock = threading.Lock()
        self._restoring = False

    # --------------------------------------------------------- lifecycle ----
    def install(self) -> engine.Patches:
        self.objects.mkdir(parents=True, exist_ok=True)
        return engine.install_s3_listener(self)

    # ----------------------------------------------------------- writing ----
    @staticmethod
    def _name(bucket: str, key: str) -> str:
        return hashlib.sha256(f"{bucket}\0{key}".encode("utf-8", "surrogateescape")).hexdigest()

    def saved(self, bucket: str, key: str, value: bytes | str) -> None:
        if self._restoring:
            return
        data = value.encode() if isinstance(value, str) else bytes(value)
        name = self._name(bucket, key)
        temporary = self.objects / f".{name}.{threading.get_ident()}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, self.objects / name)
        self._append({"op": "put", "bucket": bucket, "key": key, "object": name})

    def deleted(self, bucket: str, key: str) -> None:
        if self._restoring:
            return
        self._append({"op": "delete", "bucket": bucket, "key": key})
        (self.objects / self._name(bucket, key)).unlink(missing_ok=True)

    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False).encode("utf-8", "surrogateescape") + b"\n"
        with self._lock, self.log.open("ab") as log:
            log.write(line)

    # --------------------------------------------------------- restoring ----
    def live(self) -> dict[tuple[str, str], str]:
        """(bucket, key) -> object file name, for every object the log says exists."""
        objects: dict[tuple[str, str], str] = {}
        if not self.log.exists():
            return objects
        with self.log.open("rb") as log:
            for raw in log:
                try:
                    entry = json.loads(raw.decode("utf-8", "surrogateescape"))
                except ValueError:  # a line cut short by a kill: its object was never acknowledged
                    continue
                place = (entry["bucket"], entry["key"])
                if entry["op"] == "put":
                    objects[place] = entry["object"]
                else:
                    objects.pop(place, None)
        return objects

    def restore(self) -> int:
        """Put every live object back into moto (without S3 event notifications: nothing is
        uploaded again); returns how many. Rewrites the log with only those."""
        backend = s3_backends[ACCOUNT]["aws"]
        self.objects.mkdir(parents=True, exist_ok=True)
        live = {place: name for place, name in self.live().items() if (self.objects / name).exists()}
        self._restoring = True
        try:
            for (bucket, key), name in live.items():
                if bucket not in backend.buckets:
                    backend.create_bucket(bucket, backend.region_name)
                backend.put_object(bucket, key, (self.objects / name).read_bytes(), disable_notification=True)
        finally:
            self._restoring = False
        compacted = self.log.with_suffix(".compacted")
        with compacted.open("wb") as log:
            for (bucket, key), name in live.items():
                log.write(json.dumps({"op": "put", "bucket": bucket, "key": key, "object": name},
                                     ensure_ascii=False).encode("utf-8", "surrogateescape") + b"\n")
        os.replace(compacted, self.log)
        return len(live)
