"""`camfleet events` verbs: follow published events live, and print the event JSON Schema."""

from __future__ import annotations

import logging
import os
from typing import Annotated, cast

import pydantic
import redis
import typer

from pipeline.cli.common import JsonOption, console, handle_errors
from pipeline.errors import EventsError
from pipeline.events.config import RedisConfig
from pipeline.events.schema import Event, json_schema_text
from pipeline.events.sink import make_client
from pipeline.ingest.redact import redact_url

logger = logging.getLogger(__name__)

app = typer.Typer(
    help=(
        "Detection events in Redis.\n\n"
        "Examples:\n\n"
        "  camfleet events tail --redis-url redis://127.0.0.1:6379/0\n\n"
        "  camfleet events tail --camera cam3 --json\n\n"
        "  camfleet events tail --from-stream --count 100\n\n"
        "  camfleet events schema > event.schema.json"
    ),
    no_args_is_help=True,
)

DEFAULT_URL = "redis://127.0.0.1:6379/0"

StreamReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]] | None


def _format(event: Event) -> str:
    zones = f" zones={','.join(event.zones)}" if event.zones else ""
    box = ",".join(f"{v:.0f}" for v in event.box)
    latency = f" {event.latency_ms:.1f}ms" if event.latency_ms is not None else ""
    return (
        f"{event.frame_time.isoformat(timespec='milliseconds')} {event.camera_id} {event.type.value} "
        f"#{event.track_id} {event.class_name} {event.score:.2f} [{box}]{zones}{latency}"
    )


class _Printer:
    """Parses, filters and prints events; counts them against ``--count``."""

    def __init__(self, camera: str | None, count: int | None, as_json: bool) -> None:
        self.camera, self.count, self.as_json, self.printed = camera, count, as_json, 0

    @property
    def done(self) -> bool:
        return self.count is not None and self.printed >= self.count

    def __call__(self, data: bytes | str) -> None:
        try:
            event = Event.from_json(data)
        except pydantic.ValidationError as exc:
            logger.warning("skipping a message that is not a v1 event: %s", exc.errors()[0]["msg"])
            return
        if self.camera is not None and event.camera_id != self.camera:
            return
        if self.as_json:
            typer.echo(event.to_json())
        else:
            console.print(_format(event), highlight=False, markup=False)
        self.printed += 1


def _tail_stream(client: redis.Redis, config: RedisConfig, printer: _Printer) -> None:
    last_id: bytes | str = "0"
    while not printer.done:
        # redis-py types XREAD's reply loosely: [[stream, [(entry_id, {field: value})]]] here.
        replies = cast(StreamReply, client.xread({config.stream_key: last_id}, count=100, block=500))
        for _stream, entries in replies or []:
            for entry_id, fields in entries:
                last_id = entry_id
                data = fields.get(b"event")
                if data is not None:
                    printer(data)
                if printer.done:
                    return


def _tail_pubsub(client: redis.Redis, config: RedisConfig, camera: str | None, printer: _Printer) -> None:
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    try:
        if camera is None:
            pubsub.psubscribe(f"{config.channel_prefix}:*")
        else:
            pubsub.subscribe(f"{config.channel_prefix}:{camera}")
        while not printer.done:
            message = pubsub.get_message(timeout=0.5)
            if message is not None and message["type"] in ("message", "pmessage"):
                printer(message["data"])
    finally:
        pubsub.close()


@app.command(
    epilog=(
        "Examples:\n\n"
        "  camfleet events tail --camera cam3\n\n"
        "  camfleet events tail --from-stream --count 10 --json"
    )
)
@handle_errors
def tail(
    camera: Annotated[str | None, typer.Option("--camera", help="Only this camera id.")] = None,
    redis_url: Annotated[
        str, typer.Option("--redis-url", envvar="CAMFLEET_REDIS_URL", help="Redis to read from.")
    ] = DEFAULT_URL,
    from_stream: Annotated[
        bool, typer.Option("--from-stream", help="Replay the durable stream from its start, then follow.")
    ] = False,
    count: Annotated[int | None, typer.Option("--count", min=1, help="Stop after N events.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Print events as they are published (Ctrl-C stops); --from-stream replays the stream first."""
    try:
        config = RedisConfig(url=redis_url)
    except pydantic.ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"], param_hint="--redis-url") from exc
    client = make_client(redis_url, config, password=RedisConfig.password_from_env(os.environ))
    printer = _Printer(camera, count, as_json)
    try:
        client.ping()
        if from_stream:
            _tail_stream(client, config, printer)
        else:
            _tail_pubsub(client, config, camera, printer)
    except redis.RedisError as exc:
        raise EventsError(f"cannot read events from {redact_url(redis_url)}: {exc}") from exc
    except KeyboardInterrupt:
        pass
    finally:
        client.close()


@app.command(epilog="Example:\n\n  camfleet events schema > event.schema.json")
def schema() -> None:
    """Print the JSON Schema of published events (schema_version 1)."""
    typer.echo(json_schema_text())
