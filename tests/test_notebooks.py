"""Every notebook under docs/notebooks runs top to bottom (tiny presets, outputs into tmp_path).

The notebook's cell tagged ``parameters`` sets its output directories; the test inserts a cell
right after it that points them into ``tmp_path``. The kernel is the ``python3`` kernelspec, which
jupyter_client starts with this interpreter (``sys.executable``), so it sees the same packages.
"""

from __future__ import annotations

import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "notebooks"


def _execute(name: str, overrides: str, workdir: pathlib.Path, timeout: int = 600):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: expected one cell tagged 'parameters'"
    notebook.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(overrides))
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=timeout,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return notebook


def _text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
        parts.append(output.get("data", {}).get("text/markdown", ""))
    return "".join(parts)


def test_saved_notebooks_have_no_outputs():
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name


def test_burgers_simulation_notebook(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    run, data = tmp_path / "run", tmp_path / "data"
    overrides = f"RUN_DIR = pathlib.Path({str(run)!r})\nDATA_DIR = pathlib.Path({str(data)!r})"
    notebook = _execute("burgers_simulation.ipynb", overrides, tmp_path)
    text = "\n".join(_text(cell) for cell in notebook.cells if cell.cell_type == "code")
    assert "channels: ['u" in text and "'u(t=0)" in text  # state, control, condition bands
    for kind in ("wdno", "ddpm", "fno"):
        assert f"| {kind} |" in text, kind
    images = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == 2
    for name in ("predictions.nc", "metrics.json", "results.md", "figures/fields.png"):
        assert (run / name).is_file(), name
    assert (data / "train.h5").is_file()
    assert not (tmp_path / "runs").exists()  # the overrides took effect


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
