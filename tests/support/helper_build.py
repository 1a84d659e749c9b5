"""The key helper's single file, built once per test session by `scripts/build_helper.sh` into a release
directory of the session's own (never var/helper-releases/). Loaded as a pytest plugin by tests/conftest.py."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class BuiltRelease:
    directory: Path  # the release directory: the .pyz and SHA256SUMS
    path: Path  # the .pyz
    seconds: float  # how long the build took
    output: str


@pytest.fixture(scope="session")
def built_helper(tmp_path_factory) -> BuiltRelease:
    directory = tmp_path_factory.mktemp("helper-releases")
    started = time.monotonic()
    done = subprocess.run(["bash", str(ROOT / "scripts" / "build_helper.sh")], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "HELPER_RELEASE_DIR": str(directory)})
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    [path] = directory.glob("cagj-ukey-helper-*.pyz")
    return BuiltRelease(directory=directory, path=path, seconds=seconds, output=done.stdout + done.stderr)
