"""The Dask dashboard: it serves during a run, and the printed link reaches it.

On JupyterHub the link goes through jupyter-server-proxy
(``{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status``); elsewhere it is a plain
``http://host:port/status``. Either way it names the port actually bound.
"""

from __future__ import annotations

import contextlib
import socket
import urllib.request

import pytest
import yaml

from tests import _processes as P
from tests.conftest import CAMPAIGNS, ROOT
from thalamus.runner import run_campaign
from thalamus.scheduling import format_dashboard_link

BENCHMARK = CAMPAIGNS / "benchmark.yaml"
PROJECT_TEMPLATE = yaml.safe_load((ROOT / "dask_config.yaml").read_text())[
    "distributed"
]["dashboard"]["link"]


def test_project_config_uses_the_jupyter_server_proxy_template():
    assert PROJECT_TEMPLATE == "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status"


def test_link_on_jupyterhub(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    link = format_dashboard_link(PROJECT_TEMPLATE, "127.0.0.1", 8790)
    assert link == "/user/alice/proxy/8790/status"


@pytest.mark.parametrize("template", [PROJECT_TEMPLATE, "{0}/status", "{port", None])
def test_link_outside_a_hub_is_plain(monkeypatch, template):
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    assert format_dashboard_link(template, "10.1.2.3", 9) == "http://10.1.2.3:9/status"


@contextlib.contextmanager
def occupied(port: int = 0):
    """Listen on a loopback port (a fresh one for 0) so nothing else can."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:  # already taken by another process: just as busy
            pass
        else:
            sock.listen()
            port = sock.getsockname()[1]
        yield port


def _listening_hosts(port: int) -> set:
    import psutil

    return {
        c.laddr.ip
        for c in psutil.Process().net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


def _port_of(link: str) -> int:
    return int(link.rstrip("/").split("/")[-2].rsplit(":", 1)[-1])


@pytest.mark.cluster
@pytest.mark.timeout(90)
# tornado leaves the socket of a refused bind (the busy port) to the GC.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in.*socket:pytest.PytestUnraisableExceptionWarning"
)
def test_dashboard_serves_during_a_run_behind_the_hub_proxy(tmp_path, monkeypatch):
    import dask.config

    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    seen = {}

    def fetch(info):
        link = info["dashboard_link"]
        port = _port_of(link)
        seen.update(link=link, port=port, hosts=_listening_hosts(port))
        url = f"http://127.0.0.1:{port}/status"
        with urllib.request.urlopen(url, timeout=20) as response:
            seen.update(code=response.status, body=response.read().decode())

    # The default address (127.0.0.1:8787) is busy: the cluster binds another
    # port, and the link must name that one.
    with (
        occupied(8787),
        dask.config.set({"distributed.dashboard.link": PROJECT_TEMPLATE}),
    ):
        result = run_campaign(
            BENCHMARK, out=tmp_path, scheduler="local", workers=1, on_start=fetch
        )
    assert seen["link"] == f"/user/alice/proxy/{seen['port']}/status"
    assert seen["port"] != 8787
    assert seen["hosts"] == {"127.0.0.1"}
    assert seen["code"] == 200
    assert "Dask" in seen["body"] and "bokeh" in seen["body"].lower()
    assert result.dashboard_link == seen["link"]


@pytest.mark.cluster
@pytest.mark.timeout(90)
@pytest.mark.parametrize("hub", [True, False])
def test_cli_link_names_the_bound_port(tmp_path, hub):
    env = P.clean_env(**({"JUPYTERHUB_SERVICE_PREFIX": "/user/bob/"} if hub else {}))
    with occupied() as busy:
        done = P.run_cli(
            BENCHMARK, "--scheduler", "local", "--workers", 1, "--no-progress",
            "--out", tmp_path, "--dashboard-address", f"127.0.0.1:{busy}",
            env=env,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if "dashboard" in x)
    link = line.split()[-1]
    port = _port_of(link)
    assert port != busy
    expected = f"/user/bob/proxy/{port}/status" if hub else None
    assert link == (expected or f"http://127.0.0.1:{port}/status")
    # distributed's own complaints (busy port, unknown template variable)
    # stay out of the user's terminal.
    assert done.stderr == ""
