"""The JupyterHub example notebook runs top to bottom, headless."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOK = EXAMPLES / "jupyterhub.ipynb"


def _kernel_python():
    from jupyter_client.kernelspec import KernelSpecManager

    argv = KernelSpecManager().get_kernel_spec("python3").argv
    # jupyter_client starts a bare "python" as the interpreter running it.
    return sys.executable if argv[0] in ("python", "python3") else argv[0]


def test_kernel_is_this_environment():
    assert Path(_kernel_python()).resolve() == Path(sys.executable).resolve()


@pytest.mark.cluster
@pytest.mark.timeout(240)
def test_notebook_executes(tmp_path, monkeypatch):
    import nbclient
    import nbformat

    # The notebook's temporary directory lands in tmp_path, not in /tmp.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    # Outside JupyterHub the dashboard link is the cluster's own address.
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=180,
        resources={"metadata": {"path": str(EXAMPLES)}},
    )
    client.execute()

    text = "\n".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "dashboard: http://127.0.0.1:" in text
    assert "48 wells on 2 plates" in text
    assert f"{tmp_path}/thalamus-" in text and "(9 figures)" in text
    images = [
        out
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    assert len(images) == 1
    # The last cell removed what the run wrote.
    assert not any(tmp_path.glob("thalamus-*"))
