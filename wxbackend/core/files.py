"""The file store: where generated files (invoice PDFs) live, behind one small interface so that an S3-like
store can replace the local directory without touching callers. Chosen by `FILE_STORE`.

Keys are content-addressed (`sha256/ab/cd/<sha256><suffix>`): writing the same bytes twice is harmless and a
reader can check what it got back.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from flask import current_app

KEY = re.compile(r"sha256/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}(\.[a-z0-9]{1,8})?")


class FileMissing(LookupError):
    """No file under that key, or its content no longer matches its key."""


class FileStore(Protocol):
    def put(self, data: bytes, suffix: str = "") -> str: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


def content_key(data: bytes, suffix: str = "") -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"sha256/{digest[:2]}/{digest[2:4]}/{digest}{suffix}"


class LocalFileStore:
    """Files under one directory (shared by every process on the machine, or a network mount)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not KEY.fullmatch(key):
            raise FileMissing(key)
        return self.root / key

    def put(self, data: bytes, suffix: str = "") -> str:
        """Store `data` and return its key; atomic (a reader never sees half a file)."""
        key = content_key(data, suffix)
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        """The bytes under `key`; FileMissing when absent or altered."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FileMissing(key) from None
        if content_key(data, path.name[64:]) != key:
            raise FileMissing(key)
        return data

    def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except FileMissing:
            return False

    def delete(self, key: str) -> None:
        """Remove the file under `key` (personal data kept no longer than needed); absent is fine."""
        self._path(key).unlink(missing_ok=True)


def file_store() -> FileStore:
    name = current_app.config["FILE_STORE"]
    if name == "local":
        return LocalFileStore(current_app.config["FILE_STORE_DIR"])
    raise ValueError(f"unknown FILE_STORE {name!r}")
