"""`camfleet run` and `camfleet demo`: the pipeline until Ctrl-C or SIGTERM, with a live table."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from pipeline.cli.common import console, handle_errors
from pipeline.config import PipelineConfig, load_config
from pipeline.models.model_config import load_model_config
from pipeline.status import FleetStatus

if TYPE_CHECKING:
    from pipeline.runtime.fleet import Fleet

logger = logging.getLogger(__name__)

_REFRESH_S = 0.5


def _camera_table(status: FleetStatus) -> Table:
    alive = len(status.live_workers())
    table = Table(
        title=f"camfleet: {status.design}, {status.aggregate_fps:.1f} frames/s in all, "
        f"{alive}/{len(status.workers)} workers, up {status.uptime_s:.0f} s"
    )
    columns = (
        "camera",
        "worker",
        "state",
        "model",
        "fps",
        "detections",
        "events",
        "p50 ms",
        "p99 ms",
        "drops",
    )
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("camera", "worker", "state", "model") else "right"
        )
    for cam in status.cameras:
        table.add_row(
            cam.camera_id,
            cam.worker_id,
            cam.state if not cam.last_error else f"{cam.state} ({cam.last_error[:40]})",
            cam.model,
            f"{cam.fps:.1f}",
            str(cam.detections),
            str(cam.events),
            _ms(cam.latency_p50_ms),
            _ms(cam.latency_p99_ms),
            str(cam.dropped_decode_queue + cam.skipped_to_live + cam.dropped_late),
        )
    for camera_id in status.unplaced:
        table.add_row(camera_id, "-", "not placed yet", *["-"] * 7)
    return table


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0f}"


def _events_table(redis_url: str, count: int) -> Table:
    """The last ``count`` object_entered events (the drain ends every track with object_left)."""
    import redis

    from pipeline.events.schema import Event, EventType

    table = Table(title=f"last {count} object_entered events (Redis stream camfleet:events)")
    for column in ("time", "camera", "event", "class", "score", "track", "model", "zones"):
        table.add_column(column)
    client = redis.Redis.from_url(redis_url, socket_timeout=2)
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrevrange("camfleet:events", count=5000))
    events = [Event.from_json(fields[b"event"]) for _id, fields in entries]
    entered = [event for event in events if event.type is EventType.ENTERED][:count]
    for event in reversed(entered):
        table.add_row(
            event.frame_time.strftime("%H:%M:%S"),
            event.camera_id,
            event.type.value,
            event.class_name,
            f"{event.score:.2f}",
            str(event.track_id),
            event.model,
            ",".join(event.zones),
        )
    return table


def run_pipeline(
    config: PipelineConfig, *, seconds: float | None, repository: Path | None, live: bool, as_json: bool
) -> FleetStatus | None:
    """Start the services and the fleet, steer until a signal or ``seconds``, drain; return the last status.

    This process only steers: the camera workers carry the frames, the controller actor supervises them.
    """
    from pipeline.runtime.fleet import start_fleet
    from pipeline.runtime.services import services

    model_config = load_model_config(config.model_config_path)
    stop = threading.Event()
    with services(config, repository=repository) as running:
        # After ray.init, which installs a SIGTERM handler of its own that exits without draining.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        fleet = start_fleet(
            config,
            input_size=model_config.input_size,
            triton_urls=running.triton_urls,
            redis_url=running.redis_url,
        )
        plane = None
        try:
            plane = _start_control(config, fleet.controller)
            _watch(fleet, stop, seconds, live)
        finally:
            logger.info("stopping: draining the workers' in-flight batches and events")
            if plane is not None:
                plane.stop()
            final = fleet.stop()
        if final is None:
            return None
        if as_json:
            print(json.dumps(final.to_json(), indent=2, default=str))
        elif live:
            console.print(Group(_camera_table(final), _events_table(running.redis_url, 12)))
        return final


def _watch(fleet: Fleet, stop: threading.Event, seconds: float | None, live: bool) -> None:
    """Wait for ``stop`` or ``seconds``, redrawing the live table from the controller's status."""
    deadline = None if seconds is None else time.monotonic() + seconds
    with Live(console=console, refresh_per_second=2, transient=True) if live else _nothing() as display:
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            remaining = _REFRESH_S if deadline is None else min(_REFRESH_S, deadline - time.monotonic())
            stop.wait(max(remaining, 0.0))
            if display is not None:
                try:
                    display.update(_camera_table(fleet.status(timeout_s=5.0)))
                except Exception as exc:  # a slow controller must not end the run: the table waits
                    logger.warning("no status from the controller: %s", exc)


def _start_control(config: PipelineConfig, controller: Any) -> Any:
    """Start the REST control plane for ``controller`` when the config enables it; return it or None."""
    if not config.control.enabled:
        return None
    from pipeline.control.app import start_control_plane, token_from_env

    token = token_from_env(config.control, os.environ)
    plane = start_control_plane(config.control, token, controller, secret_names=list(config.secrets))
    console.print(f"control API at {plane.url} (GET /cameras, POST /cameras, PUT /policy, GET /metrics)")
    return plane


class _nothing:  # noqa: N801  (a no-op stand-in for ``Live`` when the table is off)
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


@handle_errors
def run_command(
    config: Annotated[Path, typer.Option("--config", exists=True, dir_okay=False, help="cameras.yaml")],
    seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the final counters as JSON, no table.")
    ] = False,
) -> None:
    """Run the pipeline of a cameras.yaml until Ctrl-C or SIGTERM, then drain.

    Example: camfleet run --config cameras.yaml
    """
    run_pipeline(load_config(config), seconds=seconds, repository=None, live=not as_json, as_json=as_json)


@handle_errors
def demo_command(
    seconds: Annotated[float, typer.Option(min=1, help="How long to run.")] = 30.0,
    cameras: Annotated[int, typer.Option(min=1, max=64, help="Synthetic cameras.")] = 4,
    redis_url: Annotated[
        str | None, typer.Option(help="Publish to this Redis instead of an embedded one.")
    ] = None,
    design: Annotated[str, typer.Option(help="Design to serve.")] = "specialists-condition",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the final counters as JSON, no table.")
    ] = False,
) -> None:
    """Synthetic cameras in mixed conditions through the whole pipeline on embedded defaults.

    Trains the demo weights on first use (a few minutes, cached), then shows a live table and the last events.

    Example: camfleet demo --seconds 60 --cameras 4
    """
    from pipeline.runtime.demo import demo_config, demo_repository
    from pipeline.train.data import default_cache_dir

    cache = default_cache_dir()
    config = demo_config(cameras, redis_url=redis_url, design=design, cache_dir=cache)
    repository = demo_repository(config, load_model_config(), cache)
    run_pipeline(config, seconds=seconds, repository=repository, live=not as_json, as_json=as_json)
