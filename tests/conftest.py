"""Shared test helpers."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "notebooks"

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


@pytest.fixture
def run_notebook():
    """``run_notebook(name, overrides, workdir) -> (notebook, text)``: execute a notebook of
    docs/notebooks top to bottom, with ``overrides`` inserted after its cell tagged
    ``parameters``; ``text`` joins the code cells' text outputs."""
    import nbformat
    from nbclient import NotebookClient

    def run(name: str, overrides: str, workdir: pathlib.Path, timeout: int = 600):
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        tagged = [
            i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])
        ]
        assert len(tagged) == 1, f"{name}: expected one cell tagged 'parameters'"
        notebook.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(overrides))
        client = NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=timeout,
            resources={"metadata": {"path": str(workdir)}},
        )
        client.execute()
        parts = []
        for cell in notebook.cells:
            for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
                parts.append(output.get("text", ""))
                data = output.get("data", {})
                parts.append(data.get("text/plain", "") + data.get("text/markdown", ""))
        return notebook, "\n".join(parts)

    return run
