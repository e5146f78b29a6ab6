"""A sqlite embedding cache shared by the processes of one job (train, then transform servers).

Keys are sha256(model name + text), values raw float32 bytes. WAL mode plus a busy
timeout lets two processes read and write the same file; INSERT OR IGNORE makes a
race to embed the same text harmless (both wrote the same vector).
"""
import hashlib
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np

FILENAME = "embeddings.sqlite3"
_CHUNK = 500  # stays under sqlite's bound-parameter limit


class EmbeddingCache:
    def __init__(self, directory: str, model_name: str):
        Path(directory).mkdir(parents=True, exist_ok=True)
        self.path = Path(directory) / FILENAME
        self._model_name = model_name
        self._lock = threading.Lock()  # one connection, shared by server threads
        self._conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        with self._lock, self._conn:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL)"
            )

    def key(self, text: str) -> str:
        # The NUL separator keeps (model, text) pairs from colliding by concatenation.
        return hashlib.sha256(f"{self._model_name}\0{text}".encode()).hexdigest()

    def get_many(self, texts: Iterable[str]) -> dict[str, np.ndarray]:
        by_key = {self.key(t): t for t in texts}
        keys = list(by_key)
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start:start + _CHUNK]
                rows = self._conn.execute(
                    f"SELECT key, vector FROM embeddings WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                for key, blob in rows:
                    found[by_key[key]] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, vectors: dict[str, np.ndarray]) -> None:
        rows: list[tuple] = [
            (self.key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in vectors.items()
        ]
        with self._lock, self._conn:
            self._conn.executemany("INSERT OR IGNORE INTO embeddings (key, vector) VALUES (?, ?)", rows)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
