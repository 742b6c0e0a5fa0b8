"""What the ``nvidia-pytriton`` wheel's bundled ``tritonserver`` needs around it, and its stub processes.

The wheel ships the server, the python backend and one python stub per Python version, but not a backend
folder laid out the way the server wants it, nor the environment the stubs need to import numpy and torch.
Each python-backend model instance runs as a stub process, a child of the server; these helpers find them
so a stopped server leaves none behind.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from pipeline.errors import ServingError

logger = logging.getLogger(__name__)

STUB = "triton_python_backend_stub"
_BACKEND_FILES = ("libtriton_python.so", "triton_python_backend_utils.py")
# Triton logs a model's load failure as one quoted line with escaped newlines; the python traceback
# follows the first "\n\nAt:", so the part before it is the error a user needs to read.
_FAILED_LOAD = re.compile(
    r"failed to (?:load|poll model) '(?P<model>[^']+)'(?: version \S+)?: (?P<error>.*?)(?:\\n|\"$|$)"
)
_CREATE_ERROR = re.compile(r"^error: (?P<error>.+)$")
_CRASH = re.compile(r"^Signal \(\d+\) received|^terminate called|what\(\):")


def pytriton_home() -> Path:
    """The ``tritonserver`` folder inside the installed ``nvidia-pytriton`` wheel.

    Raises:
        ServingError: if ``nvidia-pytriton`` is not installed.
    """
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise ServingError(
            "nvidia-pytriton is not installed; `pip install nvidia-pytriton` provides tritonserver"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "tritonserver"


def list_repository_models(repository: Path) -> list[str]:
    """Names of the models in a Triton model repository (folders with a ``config.pbtxt`` or ``configs/``)."""
    return sorted(
        entry.name
        for entry in repository.iterdir()
        if entry.is_dir() and ((entry / "config.pbtxt").is_file() or (entry / "configs").is_dir())
    )


def crash_lines(log_path: Path) -> list[str]:
    """The lines of a ``tritonserver`` log that say how it died (the signal, an uncaught exception)."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line.strip() for line in lines if _CRASH.search(line)]


def log_errors(log_path: Path) -> list[str]:
    """The errors worth showing from a ``tritonserver`` log, most specific first.

    Each model that failed to load gives ``"<model>: <its error>"`` (for a python model, the exception's
    line); without one, the server's own ``error:`` line; without that, the last ``E`` log lines.
    """
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    errors = [f"{m['model']}: {m['error']}" for line in lines if (m := _FAILED_LOAD.search(line))]
    if not errors:
        errors = [m["error"] for line in lines if (m := _CREATE_ERROR.match(line))][:1]
    if not errors:
        errors = [line for line in lines if line.startswith("E")][-3:]
    return list(dict.fromkeys(errors))


def prepare_backends(home: Path, backends: Path) -> Path:
    """Lay out ``backends/python/`` for the running interpreter and return ``backends``."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = home / "python_backend_stubs" / version / STUB
    if not stub.is_file():
        raise ServingError(f"the bundled Triton has no python backend stub for Python {version} ({stub})")
    target = backends / "python"
    target.mkdir(parents=True, exist_ok=True)
    for name in _BACKEND_FILES:
        shutil.copy2(home / "backends" / "python" / name, target / name)
    shutil.copy2(stub, target / STUB)
    (target / STUB).chmod(0o755)
    return backends


def server_env(home: Path) -> dict[str, str]:
    """The server's environment: bundled libraries first, and this venv's ``python3`` for the stubs."""
    env = dict(os.environ)
    libs = home.parent.parent / "nvidia_pytriton.libs"
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(libs), env.get("LD_LIBRARY_PATH", "")) if p)
    # The embedded stub imports numpy and torch through the `python3` it finds on PATH.
    env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
    return env


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux ``/proc``); empty where that is not available."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children.extend(int(child) for child in task.read_text().split())
        except OSError:
            continue
    return children


def reap_stubs(pids: Iterable[int], timeout_s: float, shm_prefix: str | None = None) -> None:
    """Clean up after a stopped server.

    Waits for its former stub processes to exit and SIGKILLs the ones still alive after ``timeout_s``;
    then removes the python backend's ``/dev/shm`` regions named ``shm_prefix*``, which only a killed
    server leaves behind.
    """
    deadline = time.monotonic() + timeout_s
    alive = [pid for pid in pids if is_stub(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if is_stub(pid)]
    if alive:
        logger.warning("killing %d python stub(s) still alive after the server stopped", len(alive))
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    for leftover in Path("/dev/shm").glob(f"{shm_prefix}*") if shm_prefix else ():
        leftover.unlink(missing_ok=True)


def is_stub(pid: int) -> bool:
    """True if ``pid`` is alive and is a python-backend stub (pids are re-checked, not trusted)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return STUB.encode() in cmdline and state != "Z"
