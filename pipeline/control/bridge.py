"""The pipeline's end of the control channel: polled from the pipeline loop, never blocking it.

:meth:`ControlBridge.poll` is called on every loop iteration and returns at once unless ~0.2 s have passed.
It keeps one ``take_commands`` call (a long poll) in flight and checks it with ``ray.wait(timeout=0)``,
applies the commands through the pipeline's thread-safe methods, and pushes a snapshot about once a second.

A command is answered only when its effect shows: an added camera must appear in a later snapshot and a
removed one must disappear (the real pipeline applies both between steps, and a failing add is only logged
there). The bridge never raises into the loop: errors are logged, rate-limited, and counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import ray
from pydantic import ValidationError

from pipeline.config import CameraConfig
from pipeline.control.channel import Command, CommandKind, CommandResult, Outcome
from pipeline.errors import CamfleetError
from pipeline.scheduler.config import PolicyConfig, parse_policy_config

logger = logging.getLogger(__name__)

_LOG_EVERY_S = 10.0  # a dead channel would otherwise log five times a second
_MAX_TRACKED_REFS = 64
_RAY_GET_TIMEOUT_S = 1.0
_CONFIRM_POLL_S = 0.02
_TAKE_WAIT_S = 1.0  # the channel holds an empty take this long, so an idle plane costs ~1 call a second


class ControlTarget(Protocol):
    """What the bridge needs from a pipeline (``pipeline.runtime.pipeline.Pipeline`` provides it)."""

    def add_camera(self, camera: CameraConfig) -> None:
        """Add a camera (thread-safe; may take effect on the next step)."""

    def remove_camera(self, camera_id: str) -> None:
        """Remove a camera (thread-safe; may take effect on the next step)."""

    def set_policy(self, policy: PolicyConfig) -> None:
        """Switch the scheduler policy (thread-safe)."""

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view with a ``cameras`` list of dicts that carry ``camera_id``."""


@dataclass
class _Awaiting:
    request_id: str
    kind: CommandKind
    camera_id: str
    deadline: float
    note: str = ""


class ControlBridge:
    """Applies control commands from a :class:`~pipeline.control.channel.ControlChannel` to a pipeline."""

    def __init__(
        self,
        channel: Any,
        pipeline: ControlTarget,
        *,
        poll_every_s: float = 0.2,
        publish_every_s: float = 1.0,
        confirm_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._channel = channel
        self._pipeline = pipeline
        self._poll_every_s = poll_every_s
        self._publish_every_s = publish_every_s
        self._confirm_timeout_s = confirm_timeout_s
        self._clock = clock
        self._next_poll = 0.0
        self._next_publish = 0.0
        self._take_ref: Any = None
        self._report_ref: Any = None
        self._reports: list[Any] = []
        self._outbox: list[CommandResult] = []
        self._seq = 0
        self._awaiting: list[_Awaiting] = []
        self._last_log = -_LOG_EVERY_S
        self.commands = 0
        """Commands taken from the channel."""
        self.errors = 0
        """Failures of the bridge itself (Ray calls, snapshots); a rejected command is not one."""

    def poll(self) -> None:
        """Do the bridge's work if it is due; cheap otherwise. Never raises."""
        now = self._clock()
        if now < self._next_poll:
            return
        snapshot = None
        try:
            snapshot = self._poll(now)
        except Exception as exc:  # the pipeline loop must survive any control-plane failure
            self._error("control bridge poll failed: %r", exc)
        try:
            self._report(snapshot)
        except Exception as exc:
            self._error("cannot report to the control channel: %r", exc)
        # A command's effect shows after the pipeline's next step: look again soon instead of in 0.2 s.
        self._next_poll = now + (_CONFIRM_POLL_S if self._awaiting else self._poll_every_s)

    def _poll(self, now: float) -> dict[str, Any] | None:
        """Take and apply commands; return a snapshot to publish, if one is due."""
        if self._take_ref is not None and not self._pending(self._take_ref):
            commands, self._take_ref = self._take(self._take_ref), None
        else:
            commands = []
        snapshot = None
        if commands or self._awaiting:
            snapshot = self._pipeline.snapshot()
            known = {str(camera["camera_id"]) for camera in snapshot.get("cameras", [])}
            self._confirm(known, now)
            for command in commands:
                self._apply(command, known, now)
        if self._take_ref is None:
            self._take_ref = self._channel.take_commands.remote(_TAKE_WAIT_S)
        due = now >= self._next_publish and not self._pending(self._report_ref)
        if not (due or self._outbox):  # answers always carry the snapshot that shows their change
            return None
        self._next_publish = now + self._publish_every_s
        return snapshot or self._pipeline.snapshot()

    def _report(self, snapshot: dict[str, Any] | None) -> None:
        if snapshot is not None or self._outbox:
            self._seq += 1
            self._report_ref = self._channel.report.remote(self._outbox, snapshot, self._seq)
            self._outbox = []
            self._reap(self._report_ref)

    # -- commands ------------------------------------------------------------------------------------------

    def _take(self, ref: Any) -> list[Command]:
        try:
            commands: list[Command] = ray.get(ref, timeout=_RAY_GET_TIMEOUT_S)
        except (ray.exceptions.RayError, TimeoutError) as exc:
            self._error("cannot take control commands: %s", exc)
            return []
        self.commands += len(commands)
        return commands

    def _apply(self, command: Command, known: set[str], now: float) -> None:
        effective = (known | self._ids(CommandKind.ADD_CAMERA)) - self._ids(CommandKind.REMOVE_CAMERA)
        try:
            if command.kind is CommandKind.ADD_CAMERA:
                camera = CameraConfig.model_validate(command.payload)
                if camera.id in effective:
                    self._reply(command.request_id, Outcome.CONFLICT, f"camera {camera.id!r} already exists")
                    return
                self._settle_earlier(camera.id)
                self._pipeline.add_camera(camera)
                self._await(command, camera.id, now)
            elif command.kind is CommandKind.REMOVE_CAMERA:
                camera_id = str(command.payload)
                if camera_id not in effective:
                    self._reply(command.request_id, Outcome.NOT_FOUND, f"no camera {camera_id!r}")
                    return
                self._settle_earlier(camera_id)
                self._pipeline.remove_camera(camera_id)
                self._await(command, camera_id, now)
            else:
                policy = parse_policy_config(command.payload)
                self._pipeline.set_policy(policy)
                self._await(command, "", now, note=f"policy is now {policy.type}")
        except ValidationError as exc:
            self._reply(command.request_id, Outcome.INVALID, str(exc))
        except CamfleetError as exc:
            self._reply(command.request_id, Outcome.INVALID, str(exc))
        except Exception as exc:  # a pipeline method failed: answer the caller, keep the loop going
            logger.error("control command %s failed: %r", command.kind.value, exc)
            self._reply(command.request_id, Outcome.FAILED, f"{type(exc).__name__}: {exc}")

    def _await(self, command: Command, camera_id: str, now: float, note: str = "") -> None:
        deadline = now + self._confirm_timeout_s
        self._awaiting.append(_Awaiting(command.request_id, command.kind, camera_id, deadline, note))

    def _ids(self, kind: CommandKind) -> set[str]:
        return {item.camera_id for item in self._awaiting if item.kind is kind}

    def _settle_earlier(self, camera_id: str) -> None:
        """A newer command on the same camera settles the older one: its effect may never show alone."""
        for item in [i for i in self._awaiting if i.camera_id == camera_id]:
            self._awaiting.remove(item)
            self._reply(
                item.request_id, Outcome.OK, f"applied; superseded by a later command on {camera_id!r}"
            )

    def _confirm(self, known: set[str], now: float) -> None:
        for item in list(self._awaiting):
            if item.kind is CommandKind.SET_POLICY:  # invisible in a snapshot, but a step has run since
                self._awaiting.remove(item)
                self._reply(item.request_id, Outcome.OK, item.note)
                continue
            added = item.kind is CommandKind.ADD_CAMERA
            if (item.camera_id in known) == added:
                self._awaiting.remove(item)
                verb = "added" if added else "removed"
                logger.info("control: camera %s %s", item.camera_id, verb)
                self._reply(item.request_id, Outcome.OK, f"camera {item.camera_id!r} {verb}")
            elif now > item.deadline:
                self._awaiting.remove(item)
                verb = "add" if added else "remove"
                self._reply(
                    item.request_id,
                    Outcome.FAILED,
                    f"the pipeline did not {verb} camera {item.camera_id!r} within "
                    f"{self._confirm_timeout_s:g} s; see its log",
                )

    # -- Ray calls -----------------------------------------------------------------------------------------

    def _reply(self, request_id: str, outcome: Outcome, message: str) -> None:
        self._outbox.append(CommandResult(request_id, outcome, message))

    def _reap(self, new_ref: Any) -> None:
        """Track fire-and-forget reports and log any that failed, without waiting for them."""
        self._reports.append(new_ref)
        done, self._reports = ray.wait(self._reports, num_returns=len(self._reports), timeout=0)
        for ref in done:
            try:
                ray.get(ref, timeout=_RAY_GET_TIMEOUT_S)
            except (ray.exceptions.RayError, TimeoutError) as exc:
                self._error("a control report failed: %s", exc)
        del self._reports[:-_MAX_TRACKED_REFS]

    @staticmethod
    def _pending(ref: Any) -> bool:
        return ref is not None and not ray.wait([ref], timeout=0)[0]

    def _error(self, message: str, *args: object) -> None:
        self.errors += 1
        now = self._clock()
        if now - self._last_log >= _LOG_EVERY_S:
            self._last_log = now
            logger.error("%s (%d bridge errors so far)", message % args, self.errors)
