"""The platform's commands as an operator runs them (subprocesses): `orrange serve`, `up`, `demo`,
`chain` and `deploy`, `index` and `status`; bad settings are one line."""

import json
import os
import signal
import subprocess
import sys

import httpx

from api import demo
from tests.anvil import free_port
from tests.api.conftest import ORRANGE
from tests.observe import wait_for


def _env(settings) -> dict:
    return {**os.environ, "ORRANGE_DATABASE_URL": settings.database_url, "ORRANGE_RPC_URL": settings.rpc_url,
            "ORRANGE_DEPLOYMENTS_DIR": str(settings.deployments_dir), "ORRANGE_WS_URL": "off"}


def test_serve__answers_healthy_once_indexed_then_stops_on_sigterm(settings, indexer):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--no-jobs"],
                               env=_env(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        health = _until(lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=2), "orrange serve answering",
                        process)
        assert health.status_code == 503  # up, but nothing indexed: a load balancer sends nothing here yet
        assert health.json()["checks"]["indexer"] == "no indexer has indexed chain 31337 yet"
        indexer.sync()
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        assert health.status_code == 200 and health.json()["chain_id"] == 31337
        assert httpx.get(f"http://127.0.0.1:{port}/docs").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_serve__no_deployment__one_line_and_exit_1(settings, tmp_path):
    env = {**_env(settings), "ORRANGE_DEPLOYMENTS_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--no-jobs"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert "no deployment for chain 31337" in result.stderr and "Traceback" not in result.stderr


def test_up__a_whole_trade_runs_through_it_then_ctrl_c_leaves_nothing_behind(tmp_path):
    api_port, chain_port = free_port(), free_port()
    command = [sys.executable, "-m", "api.cli", "up", "--port", str(api_port), "--chain-port", str(chain_port),
               "--database-url", f"sqlite:///{tmp_path / 'dev.db'}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _until(lambda: httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=2).status_code == 200,
               "orrange up becoming healthy", process, timeout=120)
        steps = []
        trade = demo.run(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{chain_port}", say=steps.append)
        assert trade["status"] == "RELEASED" and trade["flag"] is None
        assert any("seller locks the escrow: tx 0x" in step for step in steps)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "Orrange is up" in output and "stopped: API, indexer and anvil" in output
    _assert_stopped(f"http://127.0.0.1:{chain_port}")


def test_demo__no_platform__one_line_and_exit_1():
    result = subprocess.run([sys.executable, "-m", "api.cli", "demo", "--api", f"http://127.0.0.1:{free_port()}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "is `orrange up` running" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_chain_then_deploy__a_local_chain_that_keeps_time_with_the_escrow_recorded_on_it(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    nowhere = subprocess.run([ORRANGE, "deploy", "--rpc", url], capture_output=True, text=True, timeout=60)
    assert nowhere.returncode == 1 and nowhere.stderr.count("\n") == 1
    assert f"no chain answers at {url}" in nowhere.stderr and "orrange chain" in nowhere.stderr

    process = subprocess.Popen([ORRANGE, "chain", "--port", str(port), "--block-time", "1"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        head = _until(lambda: _block_number(url), "orrange chain answering", process)
        _until(lambda: _block_number(url) > head, "a block mined without transactions", process)

        unknown = subprocess.run([ORRANGE, "deploy", "--rpc", url, "--account", "nobody"], capture_output=True,
                                 text=True, timeout=300)
        assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
        assert "Account with alias 'nobody' not found" in unknown.stderr

        deployments = tmp_path / "deployments"
        deployed = subprocess.run([ORRANGE, "deploy", "--rpc", url, "--out", str(deployments), "--fee-bps", "25"],
                                  capture_output=True, text=True, timeout=300)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "Escrow (vyper) deployed at" in deployed.stdout
        record = json.loads((deployments / "31337.json").read_text())
        assert record["fee_bps"] == 25 and [token["symbol"] for token in record["tokens"]] == ["tUSD", "ETH"]
        assert len(_rpc(url, "eth_getCode", [record["escrow"]["address"], "latest"])) > 2

        env = {**os.environ, "ORRANGE_DATABASE_URL": f"sqlite:///{tmp_path / 'index.db'}", "ORRANGE_RPC_URL": url,
               "ORRANGE_DEPLOYMENTS_DIR": str(deployments), "ORRANGE_WS_URL": "off"}
        subprocess.run([ORRANGE, "index", "--once", "--quiet"], env=env, capture_output=True, timeout=120, check=True)
        status = subprocess.run([ORRANGE, "status"], env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert "trades    no API tables in this database" in status.stdout
        assert "escrowed  nothing: no open escrow" in status.stdout

        twin = tmp_path / "twin"
        deployed = subprocess.run([ORRANGE, "deploy", "--rpc", url, "--out", str(twin), "--contract", "solidity"],
                                  capture_output=True, text=True, timeout=300)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        record = json.loads((twin / "31337.json").read_text())
        assert "OrrangeEscrow (solidity) deployed at" in deployed.stdout
        assert record["escrow"]["name"] == "OrrangeEscrow"
        assert len(_rpc(url, "eth_getCode", [record["escrow"]["address"], "latest"])) > 2
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "TEST::9" in output and "stopped: anvil" in output
    _assert_stopped(url)


def _rpc(url: str, method: str, params: list | None = None):
    reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=5)
    return reply.json()["result"]


def _block_number(url: str) -> int:
    return int(_rpc(url, "eth_blockNumber"), 16)


def _assert_stopped(chain_url: str) -> None:
    try:
        _block_number(chain_url)
    except httpx.TransportError:
        return
    raise AssertionError(f"anvil still answers at {chain_url}")


def _until(check, what: str, process: subprocess.Popen, timeout: float = 60):
    """Polls `check` until it returns a truthy value (a refused connection counts as not yet),
    as long as `process` runs."""

    def while_running():
        assert process.poll() is None, process.stdout.read()
        return check()

    return wait_for(while_running, what, timeout)
