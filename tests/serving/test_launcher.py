"""TritonServer on the real bundled tritonserver: free loopback ports, clear errors, nothing left over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.errors import ServingError
from pipeline.netutil import free_port
from pipeline.serving.bundled import child_pids, is_stub
from pipeline.serving.launcher import TritonServer

pytestmark = pytest.mark.timeout(120)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return int(response.status), response.read().decode()


def test_server_started_binds_loopback_free_ports_and_serves(tiny_server: TritonServer) -> None:
    ports = {url.rsplit(":", 1)[1].split("/")[0] for url in (tiny_server.http_url, tiny_server.metrics_url)}
    ports.add(tiny_server.grpc_url.rsplit(":", 1)[1])
    assert len(ports) == 3
    assert tiny_server.grpc_url.startswith("127.0.0.1:")
    assert _get(f"{tiny_server.http_url}/v2/health/ready")[0] == 200
    assert _get(f"{tiny_server.http_url}/v2/models/tiny/ready")[0] == 200
    status, metrics = _get(tiny_server.metrics_url)
    assert status == 200 and "nv_inference_request_success" in metrics
    assert tiny_server.loaded_models == ["tiny"]
    assert tiny_server.log_path.is_file()
    assert any(is_stub(pid) for pid in child_pids(tiny_server.pid or 0))


def test_server_shares_the_callers_session_in_a_process_group_of_its_own(tiny_server: TritonServer) -> None:
    pid = tiny_server.pid or 0
    # Its own group: a Ctrl-C in the terminal does not reach it before stop() drains the pipeline.
    assert os.getpgid(pid) == pid != os.getpgid(0)
    # The caller's session: with autogroup scheduling a session of its own would take an equal share of
    # the CPU against the camera workers' session, whatever their nice values.
    assert os.getsid(pid) == os.getsid(0)
    # The kernel prints an autogroup only for a task in the root cgroup: in a container both read empty.
    autogroup = Path(f"/proc/{pid}/autogroup")
    if autogroup.exists():
        assert autogroup.read_text().split()[:1] == Path("/proc/self/autogroup").read_text().split()[:1]


def test_start_missing_binary_raises_serving_error(tiny_repository: Path, tmp_path: Path) -> None:
    server = TritonServer(tiny_repository, models=["tiny"], tritonserver_home=tmp_path / "nothing")
    with pytest.raises(ServingError, match="tritonserver binary not found"):
        server.start()
    assert server.pid is None


def test_start_missing_repository_raises_serving_error(tmp_path: Path) -> None:
    with pytest.raises(ServingError, match="does not exist"):
        TritonServer(tmp_path / "no_repository").start()


def test_start_unknown_model_raises_serving_error_listing_models(tiny_repository: Path) -> None:
    with pytest.raises(ServingError, match=r"nope not in .*it has: broken, paced, tiny"):
        TritonServer(tiny_repository, models=["nope"]).start()


def test_start_broken_model_raises_with_model_error_and_leaves_nothing(tiny_repository: Path) -> None:
    server = TritonServer(tiny_repository, models=["tiny", "broken"], startup_timeout_s=60)
    with pytest.raises(ServingError) as caught:
        server.start()
    message = str(caught.value)
    assert "broken: " in message
    assert "RuntimeError: broken on purpose: weights.pt is missing" in message
    assert str(server.log_path) in message
    assert server.pid is None and not server.running


def test_stop_terminates_server_and_stub_processes(tiny_repository: Path) -> None:
    server = TritonServer(tiny_repository, models=["tiny"], startup_timeout_s=60).start()
    pid = server.pid
    assert pid is not None
    stubs = [child for child in child_pids(pid) if is_stub(child)]
    assert stubs, "the python model should run in a stub process"
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < server.stop_timeout_s + 6
    assert not _alive(pid)
    assert not any(_alive(stub) for stub in stubs)
    server.stop()  # a second stop is a no-op


def test_stop_after_server_killed_reaps_orphan_stubs(tiny_repository: Path) -> None:
    server = TritonServer(tiny_repository, models=["tiny"], startup_timeout_s=60).start()
    assert server.pid is not None
    stubs = [child for child in child_pids(server.pid) if is_stub(child)]
    os.kill(server.pid, signal.SIGKILL)  # the server we started, by pid: its stubs become orphans
    server.stop()
    assert stubs and not any(_alive(stub) for stub in stubs)


def test_explicit_mode_loads_and_unloads_models_on_request(tiny_repository: Path) -> None:
    with TritonServer(tiny_repository, models=[], startup_timeout_s=60) as server:
        assert server.loaded_models == []
        server.load_model("tiny")
        assert _get(f"{server.http_url}/v2/models/tiny/ready")[0] == 200
        with pytest.raises(ServingError, match="broken on purpose"):
            server.load_model("broken")
        server.unload_model("tiny")
        assert server.loaded_models == []
        with pytest.raises(OSError):
            _get(f"{server.http_url}/v2/models/tiny/ready")


def test_start_given_ports_uses_them(tiny_repository: Path) -> None:
    grpc_port = free_port()
    with TritonServer(tiny_repository, models=["tiny"], grpc_port=grpc_port, startup_timeout_s=60) as server:
        assert server.grpc_url == f"127.0.0.1:{grpc_port}"


def test_cli_serve_runs_until_sigterm_then_stops_cleanly(tiny_repository: Path) -> None:
    grpc_port, http_port = free_port(), free_port()
    command = [str(Path(sys.executable).with_name("camfleet")), "triton", "serve"]
    command += ["--model-repository", str(tiny_repository), "--model", "tiny"]
    command += ["--grpc-port", str(grpc_port), "--http-port", str(http_port)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as cli:
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if _get(f"http://127.0.0.1:{http_port}/v2/health/ready")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            server_pids = child_pids(cli.pid)
            cli.send_signal(signal.SIGTERM)
            output, _ = cli.communicate(timeout=30)
        finally:
            if cli.poll() is None:
                cli.kill()
    assert cli.returncode == 0, output
    assert f"127.0.0.1:{grpc_port}" in output and "tiny" in output
    assert server_pids and not any(_alive(pid) for pid in server_pids)
