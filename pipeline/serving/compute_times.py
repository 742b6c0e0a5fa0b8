"""What the servers report about each model: execution times per batch size, and instances.

A worker's round trip to Triton is queueing plus service; when several workers share a model instance the
queueing is mostly the other workers' requests, which no batch size of this worker can shorten. Triton
counts, per model and execution batch size, the compute time of every execution (input, infer and output;
for an ensemble the sum of its steps) and never the time in its queue. :class:`ServerComputeTimes` reads
those counters from every server of a pool on a thread of its own, differences them over the last
``window_s`` seconds, and fits the service line the batcher sizes its requests with
(:func:`~pipeline.batching.service_time.fit_service_line`, weighted by executions).

An ensemble's own compute counters are the sum of its steps, which overstates its time when steps run side
by side (three class-group models on one frame). The line of an ensemble is therefore built from its steps'
lines along the critical path: trunk, then the slowest of the parallel models, then the merge. Steps that
share cores run slower each, and their own times show it.

The servers also say how many executions of a model they run at once (its instances, added over the
pool's servers; for an ensemble the fewest of its steps other than the merge, since every request passes
each of them). The batcher keeps no more requests of a model in flight than that: a request beyond it would
only wait at the server, and past saturation the batcher would send each frame that arrived in ever more,
ever smaller requests while Triton's stretched execution times hide the wait from its queueing check.

A server that restarted (its counters went down) starts its window again; a server that refuses or fails
the statistics call is skipped and counted (the batcher then falls back to its own round trips); the
last line of a model stays while it sees no executions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType

from pipeline.batching.service_time import ServiceLine, fit_service_line
from pipeline.errors import CamfleetError
from pipeline.models.designs import MERGE_MODEL, EnsembleSpec
from pipeline.serving.client import ModelStatistics, TritonClient

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Reading:
    at: float
    executions: dict[int, int]
    compute_ns: dict[int, int]

    @classmethod
    def of(cls, stats: ModelStatistics, at: float) -> _Reading:
        return cls(at, dict(stats.batch_executions), dict(stats.batch_compute_ns))

    def went_back_from(self, older: _Reading) -> bool:
        """Whether any counter is below ``older``'s: the server restarted in between."""
        return any(self.executions.get(b, 0) < n for b, n in older.executions.items())


class ServerComputeTimes:
    """Each model's service line and concurrency, from what the servers report (see the module docstring)."""

    def __init__(
        self,
        clients: Callable[[], Sequence[TritonClient]],
        models: Sequence[str],
        *,
        ensembles: Mapping[str, EnsembleSpec] | None = None,
        interval_s: float = 1.0,
        window_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Describe what to read; :meth:`start` starts reading.

        Args:
            clients: The servers' clients now (a pool's servers come and go).
            models: The models to follow.
            ensembles: How the ensembles among ``models`` are built (their steps are followed too).
            interval_s: Seconds between readings.
            window_s: How far back a line looks; older executions no longer count.
            clock: Monotonic time source.
        """
        if interval_s <= 0 or window_s < interval_s:
            raise ValueError("need interval_s > 0 and window_s >= interval_s")
        self._clients = clients
        self.ensembles = {m: spec for m, spec in (ensembles or {}).items() if m in models}
        steps = [step for spec in self.ensembles.values() for step in spec.steps]
        self.models = tuple(dict.fromkeys([*models, *steps]))
        self.interval_s = interval_s
        self.window_s = window_s
        self._clock = clock
        self._readings: dict[tuple[str, str], deque[_Reading]] = {}
        self._lines: dict[str, ServiceLine] = {}
        self._concurrency: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing: set[str] = set()
        self.failures = 0
        """Statistics calls that failed (a server down, or one that refuses the statistics extension)."""

    def line(self, model: str) -> ServiceLine | None:
        """The service line of ``model`` (seconds per request of ``b`` frames); None until one is read."""
        return self._lines.get(model)

    def concurrency(self, model: str) -> int | None:
        """Executions of ``model`` the servers run at once (instances over the pool); None until read."""
        return self._concurrency.get(model)

    def start(self) -> ServerComputeTimes:
        """Read once now, then every ``interval_s`` on a daemon thread; returns ``self``."""
        self.refresh()
        self._thread = threading.Thread(target=self._loop, name="triton-compute-times", daemon=True)
        self._thread.start()
        return self

    def refresh(self) -> None:
        """Read every server's statistics of every model and refit each model's line."""
        now = self._clock()
        instances: dict[str, int] = {}
        for client in self._clients():
            for model in self.models:
                try:
                    stats = client.statistics(model)
                    count = client.instances(model)
                except CamfleetError as exc:
                    self._failed(client.url, exc)
                    continue
                self._failing.discard(client.url)
                self._record((client.url, model), _Reading.of(stats, now))
                if count is not None:
                    instances[model] = instances.get(model, 0) + count
        for model in self.models:
            line = self._fit(model, now)
            if line is not None:
                self._lines[model] = line
        for name, spec in self.ensembles.items():
            line = self._critical_path(spec)
            if line is not None:
                self._lines[name] = line
            steps = [step for step in spec.steps if step != MERGE_MODEL]
            if steps and all(step in instances for step in steps):
                instances[name] = min(instances[step] for step in steps)
        if instances:  # a round in which no server answered keeps the last counts
            self._concurrency = instances

    def _critical_path(self, spec: EnsembleSpec) -> ServiceLine | None:
        """Trunk + the slowest parallel step + merge; None until every step has a line."""
        parallel = [self._lines.get(step) for step in spec.parallel]
        serial = [self._lines.get(step) for step in spec.steps if step not in spec.parallel]
        if any(line is None for line in parallel + serial):
            return None
        # The slowest branch, bounded above by a line: the larger fixed part and the larger slope.
        chain = [line for line in serial if line is not None]
        chain.append(
            ServiceLine(
                max(line.fixed_s for line in parallel if line is not None),
                max(line.per_frame_s for line in parallel if line is not None),
            )
        )
        return ServiceLine(sum(line.fixed_s for line in chain), sum(line.per_frame_s for line in chain))

    def _failed(self, url: str, exc: CamfleetError) -> None:
        self.failures += 1
        if url not in self._failing:  # once per server and outage, not every second
            self._failing.add(url)
            logger.warning("cannot read Triton statistics at %s (batches follow round trips): %s", url, exc)

    def _record(self, key: tuple[str, str], reading: _Reading) -> None:
        readings = self._readings.setdefault(key, deque())
        if readings and reading.went_back_from(readings[-1]):  # a restart: older counts are another server's
            readings.clear()
        readings.append(reading)
        while len(readings) > 2 and readings[1].at <= reading.at - self.window_s:
            readings.popleft()

    def _fit(self, model: str, now: float) -> ServiceLine | None:
        executions: dict[int, int] = {}
        compute_ns: dict[int, int] = {}
        for (_, followed), readings in self._readings.items():
            # A server that left the pool or stopped answering keeps its last readings: leave them out.
            if followed != model or len(readings) < 2 or readings[-1].at < now - self.window_s:
                continue
            old, new = readings[0], readings[-1]
            for batch, count in new.executions.items():
                executions[batch] = executions.get(batch, 0) + count - old.executions.get(batch, 0)
                spent = new.compute_ns.get(batch, 0) - old.compute_ns.get(batch, 0)
                compute_ns[batch] = compute_ns.get(batch, 0) + spent
        points = {b: (compute_ns[b] / n / 1e9, float(n)) for b, n in executions.items() if n > 0}
        return fit_service_line(points)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.refresh()
            except Exception:  # a bad round must not end the readings; the next round retries
                logger.exception("reading Triton statistics failed")

    def close(self) -> None:
        """Stop reading; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ServerComputeTimes:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
