"""Notebooks under docs/notebooks: saved without outputs, and executed top to bottom by the tests of
their system (tiny presets, outputs into tmp_path; e.g. the Burgers notebook in
``test_burgers_workflow.py``, on a copy of the tiny run those tests train once).

The notebook's cell tagged ``parameters`` sets its output directories; the test inserts a cell
right after it that points them into ``tmp_path``. The kernel is the ``python3`` kernelspec, which
jupyter_client starts with this interpreter (``sys.executable``), so it sees the same packages.
"""

from __future__ import annotations

import pathlib

import nbformat
import pytest

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "notebooks"


def test_saved_notebooks_have_no_outputs():
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
