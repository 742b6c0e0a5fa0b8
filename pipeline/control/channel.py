"""The control channel: a small Ray actor between the REST handlers and the pipeline driver.

Serve replicas and the pipeline run in different processes and must never wait on each other. Handlers
:meth:`~ControlChannel.submit` a command (already validated) and then :meth:`~ControlChannel.wait_result`
for it, bounded; the pipeline's :class:`~pipeline.control.bridge.ControlBridge` polls
:meth:`~ControlChannel.take_commands`, applies them on the pipeline thread and reports
:meth:`~ControlChannel.complete`. The pipeline also pushes its latest snapshot
(:meth:`~ControlChannel.publish_snapshot`), which handlers read with :meth:`~ControlChannel.snapshot`.

The actor is asynchronous: a handler waiting for its command holds a coroutine, not a thread, so a few slow
requests cannot starve the pipeline's own calls. The number of waiting commands is capped below the actor's
concurrency for the same reason.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

import ray

logger = logging.getLogger(__name__)

NAMESPACE = "camfleet"
"""Ray namespace of the named channel actor (Serve replicas look it up by name)."""

MAX_PENDING = 16
"""Most commands accepted and not yet answered; further ones get ``busy``."""

MAX_CONCURRENCY = 32
"""Concurrent calls into the actor: the waiting handlers (at most MAX_PENDING) plus room for the pipeline."""

POLL_STALE_S = 5.0
"""A pipeline that has not polled for this long is treated as not running: commands are refused at once."""


class CommandKind(str, enum.Enum):
    """What a command does."""

    ADD_CAMERA = "add_camera"
    REMOVE_CAMERA = "remove_camera"
    SET_POLICY = "set_policy"


class Outcome(str, enum.Enum):
    """How a command ended (the REST layer maps each to an HTTP status)."""

    ACCEPTED = "accepted"  # queued; the caller should now wait for the result
    OK = "ok"
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    FAILED = "failed"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"
    EXPIRED = "expired"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Command:
    """One control request on its way to the pipeline.

    Attributes:
        request_id: Unique id, returned to the handler by :meth:`ControlChannel.submit`.
        kind: What to do.
        payload: A camera config dict (add), a camera id (remove) or a policy dict (set policy).
    """

    request_id: str
    kind: CommandKind
    payload: Any


@dataclass(frozen=True)
class CommandResult:
    """The answer to :meth:`ControlChannel.submit` or :meth:`ControlChannel.wait_result`."""

    request_id: str
    outcome: Outcome
    message: str = ""

    @property
    def ok(self) -> bool:
        """Whether the command was accepted (submit) or applied (wait_result)."""
        return self.outcome in (Outcome.OK, Outcome.ACCEPTED)


@dataclass(frozen=True)
class PublishedSnapshot:
    """The pipeline's latest snapshot and how old it is (None before the first one)."""

    data: dict[str, Any] | None
    age_s: float | None
    poll_age_s: float | None


class ControlChannel:
    """Command queue, result board and latest snapshot (see the module docstring)."""

    def __init__(self, *, max_pending: int = MAX_PENDING, poll_stale_s: float = POLL_STALE_S) -> None:
        self._max_pending = max_pending
        self._poll_stale_s = poll_stale_s
        self._queue: deque[tuple[Command, float]] = deque()  # (command, deadline)
        self._waiters: dict[str, asyncio.Event] = {}
        self._results: dict[str, CommandResult] = {}
        self._arrived = asyncio.Event()
        self._ids = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self._snapshot: dict[str, Any] | None = None
        self._snapshot_at: float | None = None
        self._snapshot_seq = -1
        self._polled_at: float | None = None

    # -- handler side --------------------------------------------------------------------------------------

    async def submit(self, kind: CommandKind, payload: Any, timeout_s: float) -> CommandResult:
        """Queue a command; the pipeline must take it within ``timeout_s`` or it is dropped unapplied.

        Returns:
            ``ACCEPTED`` with the request id, ``UNAVAILABLE`` when the pipeline is not polling, or ``BUSY``
            when too many commands are waiting.
        """
        now = time.monotonic()
        if self._polled_at is None or now - self._polled_at > self._poll_stale_s:
            return CommandResult("", Outcome.UNAVAILABLE, "the pipeline is not polling the control channel")
        if len(self._waiters) >= self._max_pending:
            return CommandResult(
                "", Outcome.BUSY, f"{self._max_pending} control requests are already waiting"
            )
        request_id = f"{self._prefix}-{next(self._ids)}"
        self._waiters[request_id] = asyncio.Event()
        self._queue.append((Command(request_id, CommandKind(kind), payload), now + timeout_s))
        self._arrived.set()
        return CommandResult(request_id, Outcome.ACCEPTED)

    async def wait_result(self, request_id: str, timeout_s: float) -> CommandResult:
        """Wait up to ``timeout_s`` for the pipeline to finish ``request_id``; ``TIMEOUT`` otherwise."""
        event = self._waiters.get(request_id)
        if event is None:
            return self._results.pop(request_id, None) or CommandResult(
                request_id, Outcome.NOT_FOUND, "unknown request id"
            )
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except asyncio.TimeoutError:
            queued = any(command.request_id == request_id for command, _ in self._queue)
            self._queue = deque(item for item in self._queue if item[0].request_id != request_id)
            note = "it was withdrawn" if queued else "the pipeline may still apply it"
            return CommandResult(request_id, Outcome.TIMEOUT, f"no answer within {timeout_s:g} s; {note}")
        finally:
            self._waiters.pop(request_id, None)
        return self._results.pop(request_id)

    async def snapshot(self) -> PublishedSnapshot:
        """The latest snapshot the pipeline published, with its age and the age of its last poll."""
        now = time.monotonic()
        return PublishedSnapshot(
            self._snapshot,
            None if self._snapshot_at is None else now - self._snapshot_at,
            None if self._polled_at is None else now - self._polled_at,
        )

    # -- pipeline side -------------------------------------------------------------------------------------

    async def take_commands(self, wait_s: float = 0.0) -> list[Command]:
        """Every queued command, oldest first, waiting up to ``wait_s`` for one to arrive.

        Commands whose handler gave up are answered ``EXPIRED`` instead. Waiting here (a long poll) lets the
        pipeline see a command on its next poll rather than one poll after its next call.
        """
        self._polled_at = time.monotonic()
        if not self._queue and wait_s > 0:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), wait_s)
            except asyncio.TimeoutError:
                pass
        now = self._polled_at = time.monotonic()
        taken = []
        while self._queue:
            command, deadline = self._queue.popleft()
            if now > deadline:
                self._finish(CommandResult(command.request_id, Outcome.EXPIRED, "not taken in time"))
            else:
                taken.append(command)
        return taken

    async def complete(self, request_id: str, ok: bool, message: str, outcome: Outcome | None = None) -> None:
        """Report the result of a taken command (``outcome`` refines a failure: invalid, not_found...)."""
        resolved = outcome or (Outcome.OK if ok else Outcome.FAILED)
        self._finish(CommandResult(request_id, Outcome(resolved), message))

    async def publish_snapshot(self, snapshot: dict[str, Any], seq: int | None = None) -> None:
        """Replace the latest snapshot; with ``seq``, one older than the newest seen is ignored.

        Calls into an async actor may run out of order, hence the sequence number.
        """
        if seq is not None:
            if seq <= self._snapshot_seq:
                return
            self._snapshot_seq = seq
        self._snapshot = snapshot
        self._snapshot_at = time.monotonic()

    async def report(self, results: list[CommandResult], snapshot: dict[str, Any] | None, seq: int) -> None:
        """Publish ``snapshot`` (if given), then complete ``results``.

        One call for both, so a handler that got its answer reads a snapshot at least as new as its change.
        """
        if snapshot is not None:
            await self.publish_snapshot(snapshot, seq)
        for result in results:
            self._finish(result)

    async def counts(self) -> dict[str, int]:
        """Queued and waiting command counts (for tests and debugging)."""
        return {"queued": len(self._queue), "waiting": len(self._waiters)}

    def _finish(self, result: CommandResult) -> None:
        event = self._waiters.get(result.request_id)
        if event is None:  # the handler already gave up: nobody will read it
            logger.debug("dropping the result of %s: %s", result.request_id, result.outcome.value)
            return
        self._results[result.request_id] = result
        event.set()


ControlChannelActor = ray.remote(ControlChannel)
"""The Ray actor class of :class:`ControlChannel`."""


def new_channel_name() -> str:
    """A unique name for a channel actor (several pipelines may share one Ray cluster)."""
    return f"camfleet-control-{uuid.uuid4().hex[:8]}"


def create_channel(name: str) -> Any:
    """Start a :class:`ControlChannel` actor named ``name`` in :data:`NAMESPACE` and return its handle.

    Serve replicas find the actor by this name (:func:`get_channel`). The actor is not detached: it ends
    with the driver that created it.
    """
    # No CPU reserved: it only moves small messages, and the cameras need every core.
    return ControlChannelActor.options(
        name=name, namespace=NAMESPACE, num_cpus=0, max_concurrency=MAX_CONCURRENCY
    ).remote()


def get_channel(name: str) -> Any:
    """The handle of the channel actor ``name`` (from any process of the same Ray cluster)."""
    return ray.get_actor(name, namespace=NAMESPACE)
