"""A job cut off by stopping the server (a real uvicorn process, killed) shows as
interrupted once the server is back, and its rerun gives the result an uncut run gives."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from shequ.context import Context
from shequ.services.accounts.demo import ensure_demo_accounts
from shequ.services.accounts.users import DEMO_PASSWORD
from shequ.settings import Settings

pytestmark = [pytest.mark.slow]

COUNTY = "130123000000"


@contextmanager
def server(data_dir: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``uvicorn --factory shequ.app:app_from_env`` on the data folder, in its own process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, "SHEQU_DATA_DIR": str(data_dir), "SHEQU_ENV": "test"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "shequ.app:app_from_env",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # a loaded two-CPU machine imports slowly
    while True:
        try:
            if httpx.get(f"{url}/login", timeout=10).status_code < 500:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the server did not start (exit {process.poll()}): "
                               + (process.stderr.read() if process.stderr else b"").decode())
        time.sleep(0.2)
    try:
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _token(url: str) -> dict[str, str]:
    answer = httpx.post(f"{url}/api/v1/auth/token", timeout=30,
                        data={"username": "demo_planner", "password": DEMO_PASSWORD})
    answer.raise_for_status()
    return {"Authorization": "Bearer " + answer.json()["access_token"]}


def _until_ended(url: str, auth: dict[str, str], job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while True:
        job: dict[str, Any] = httpx.get(f"{url}/api/v1/jobs/{job_id}", headers=auth,
                                        timeout=30).json()
        if job["status"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def _deltas(job: dict[str, Any]) -> list[tuple[str, float | None]]:
    return sorted((d["indicator"], d["after"]) for d in job["result"]["indicator_deltas"])


def test_a_job_cut_off_by_a_restart_is_interrupted_and_reruns_to_the_same_result(
        demo_settings: Settings) -> None:
    ctx = Context.open(demo_settings)
    with ctx.sessions.begin() as session:
        ensure_demo_accounts(session, county_code=COUNTY, environment="test")
    ctx.close()
    with server(demo_settings.data_dir) as (process, url):
        auth = _token(url)
        solved = httpx.post(f"{url}/api/v1/plan/solve", headers=auth, timeout=120, json={
            "division_code": COUNTY, "target": 0.8, "save_as": "restart plan"})
        assert solved.status_code == 200, solved.text
        scenario_id = solved.json()["scenario_id"]
        started = httpx.post(f"{url}/api/v1/plan/scenarios/{scenario_id}/evaluation-jobs",
                             headers=auth, timeout=30)
        assert started.status_code == 202, started.text
        uncut = _until_ended(url, auth, started.json()["id"])
        assert uncut["status"] == "done"
        cut = httpx.post(f"{url}/api/v1/plan/scenarios/{scenario_id}/evaluation-jobs",
                         headers=auth, timeout=30).json()
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/api/v1/jobs/{cut['id']}", headers=auth,
                        timeout=30).json()["status"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)  # the server goes away mid-job
        process.wait(timeout=30)
    with server(demo_settings.data_dir) as (_, url):
        auth = _token(url)
        seen = httpx.get(f"{url}/api/v1/jobs/{cut['id']}", headers=auth, timeout=30).json()
        assert seen["status"] == "interrupted", seen
        assert seen["finished_at"] is not None and seen["result"] is None
        again = httpx.post(f"{url}/api/v1/jobs/{cut['id']}/rerun", headers=auth, timeout=30)
        assert again.status_code == 202, again.text
        assert again.json()["rerun_of"] == cut["id"]
        rerun = _until_ended(url, auth, again.json()["id"])
        assert rerun["status"] == "done"
        assert _deltas(rerun) == _deltas(uncut) and rerun["result"]["headlines"]
        assert json.dumps(rerun["result"]["cost"]) == json.dumps(uncut["result"]["cost"])
        listed = httpx.get(f"{url}/api/v1/jobs", headers=auth, params={"mine": True},
                           timeout=30).json()
        assert [j["status"] for j in listed[:3]] == ["done", "interrupted", "done"]
