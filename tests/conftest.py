"""Shared test helpers."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def run_python():
    """``run_python(script, **environment) -> stdout``: run a script in a fresh CPU process.

    A fresh process is what a resumed job or a forced device count needs (JAX reads its flags at
    start-up). The repository is on ``PYTHONPATH``; the test fails with the script's stderr if it
    exits non-zero.
    """

    def run(script: str, **environment: str) -> str:
        env = {**os.environ, "PYTHONPATH": str(REPOSITORY), "JAX_PLATFORMS": "cpu", **environment}
        completed = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPOSITORY,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        return completed.stdout

    return run
