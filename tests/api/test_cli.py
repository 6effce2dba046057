"""`orrange serve` runs the API as an operator would start it; bad settings are one line."""

import os
import signal
import subprocess
import sys
import time

import httpx

from api import demo
from tests.anvil import free_port


def _env(settings) -> dict:
    return {**os.environ, "ORRANGE_DATABASE_URL": settings.database_url, "ORRANGE_RPC_URL": settings.rpc_url,
            "ORRANGE_DEPLOYMENTS_DIR": str(settings.deployments_dir), "ORRANGE_WS_URL": "off"}


def test_serve__answers_healthy_once_indexed_then_stops_on_sigterm(settings, indexer):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--no-jobs"],
                               env=_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read().decode()
                assert time.monotonic() < deadline, "orrange serve did not answer"
                time.sleep(0.2)
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
        deadline = time.monotonic() + 120
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=2).json()
                if health["indexed_block"]:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "orrange up did not become healthy"
            time.sleep(0.5)
        steps = []
        trade = demo.run(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{chain_port}", say=steps.append)
        assert trade["status"] == "RELEASED" and trade["flag"] is None
        assert any("seller locks the escrow: tx 0x" in step for step in steps)
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "Orrange is up" in output and "stopped: API, indexer and anvil" in output
    try:
        httpx.post(f"http://127.0.0.1:{chain_port}", json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=2)
        raise AssertionError("anvil is still running")
    except httpx.TransportError:
        pass


def test_demo__no_platform__one_line_and_exit_1():
    result = subprocess.run([sys.executable, "-m", "api.cli", "demo", "--api-url", f"http://127.0.0.1:{free_port()}"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "is `orrange up` running?" in result.stderr and "Traceback" not in result.stderr
