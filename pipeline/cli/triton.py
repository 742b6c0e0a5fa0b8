"""`camfleet triton` verbs: run the bundled Triton server in the foreground, and ask one for its status."""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli.common import JsonOption, console, handle_errors
from pipeline.errors import InferenceError, ServingError
from pipeline.netutil import LOOPBACK

logger = logging.getLogger(__name__)

app = typer.Typer(
    help=(
        "Run the Triton server bundled in the nvidia-pytriton wheel, and query one.\n\n"
        "Examples:\n\n"
        "  camfleet triton serve\n\n"
        "  camfleet triton serve --grpc-port 8001 --model monolith --model specialist_day\n\n"
        "  camfleet triton serve --model-config-name gpu --model-repository /models\n\n"
        "  camfleet triton status --url 127.0.0.1:8001 --json"
    ),
    no_args_is_help=True,
)

PortOption = Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default: a free one).")]


@app.command(
    "serve",
    help=(
        "Start Triton with the repository's models and serve until Ctrl-C or SIGTERM.\n\n"
        "Examples:\n\n"
        "  camfleet triton serve --grpc-port 8001 --http-port 8000 --metrics-port 8002\n\n"
        "  camfleet triton serve --model monolith --model trunk --model head_day --model shared_day"
    ),
)
@handle_errors
def serve_command(
    http_port: PortOption = None,
    grpc_port: PortOption = None,
    metrics_port: PortOption = None,
    model_repository: Annotated[
        Path, typer.Option(help="Triton model repository (see `camfleet models export`).")
    ] = Path("triton_models"),
    model: Annotated[
        list[str] | None, typer.Option(help="Load only this model (repeatable; default: all).")
    ] = None,
    model_config_name: Annotated[
        str | None, typer.Option(help="Use configs/<NAME>.pbtxt where a model has one, e.g. gpu.")
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to bind; keep loopback unless other hosts must reach it.")
    ] = LOOPBACK,
    startup_timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the server and its models.")
    ] = 300.0,
) -> None:
    """Start Triton with the repository's models and serve until Ctrl-C or SIGTERM."""
    from pipeline.serving.launcher import TritonServer

    server = TritonServer(
        model_repository,
        models=model or None,
        model_config_name=model_config_name,
        http_port=http_port,
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        host=host,
        startup_timeout_s=startup_timeout,
    )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with console.status("starting Triton (python models take a few seconds each)..."):
            server.start()
        console.print(f"gRPC     {server.grpc_url}")
        console.print(f"HTTP     {server.http_url}")
        console.print(f"metrics  {server.metrics_url}")
        console.print(f"log      {server.log_path}")
        console.print(f"models   {', '.join(server.loaded_models)}")
        console.print("serving; press Ctrl-C to stop")
        while not stop.wait(0.5):
            if not server.running:
                raise ServingError(f"tritonserver exited unexpectedly (log: {server.log_path})")
        console.print("stopping Triton...")
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command(
    "status",
    help=(
        "Print whether the server is ready and the state of every model in its repository; "
        "exit code 1 when it cannot be reached or is not ready.\n\n"
        "Examples:\n\n"
        "  camfleet triton status --url 127.0.0.1:8001\n\n"
        "  camfleet triton status --url 127.0.0.1:8001 --json"
    ),
)
@handle_errors
def status_command(
    url: Annotated[str, typer.Option(help="gRPC address of the server, host:port.")] = f"{LOOPBACK}:8001",
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per request.")] = 5.0,
    as_json: JsonOption = False,
) -> None:
    """Print whether the server is ready and the state of every model in its repository."""
    from pipeline.serving.client import TritonClient

    with TritonClient(url, timeout_s=timeout, retries=0, use_shared_memory=False) as client:
        if not client.is_ready():
            raise InferenceError(f"Triton at {url} is not reachable or not ready")
        models: list[dict[str, str | bool]] = [
            {**entry, "ready": client.model_ready(entry["name"])} for entry in client.model_index()
        ]
    if as_json:
        print(json.dumps({"url": url, "ready": True, "models": models}, indent=2))
        return
    table = Table(title=f"Triton at {url}: ready")
    for column in ("model", "version", "state", "ready", "reason"):
        table.add_column(column)
    for entry in models:
        table.add_row(
            *(
                str(entry[key]) if entry[key] != "" else "-"
                for key in ("name", "version", "state", "ready", "reason")
            )
        )
    console.print(table)
