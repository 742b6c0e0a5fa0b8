"""A small self-refreshing HTML status page (``GET /``) rendered from the fleet's typed status.

No templates and no scripts: a few totals, the workers and a table of cameras, every value HTML-escaped
(camera ids and error messages come from users and streams).
"""

from __future__ import annotations

import html
import logging
import math

from pipeline.status import CameraStatus, FleetStatus

logger = logging.getLogger(__name__)

_REFRESH_S = 5
_COLUMNS: tuple[tuple[str, str], ...] = (
    ("camera_id", "camera"),
    ("state", "state"),
    ("worker_id", "worker"),
    ("model", "model"),
    ("condition", "condition"),
    ("fps", "fps"),
    ("frames_in", "frames in"),
    ("frames_inferred", "inferred"),
    ("frames_skipped_motion", "skipped (motion)"),
    ("dropped_decode_queue", "dropped (decode)"),
    ("skipped_to_live", "skipped (behind live)"),
    ("dropped_late", "dropped (late)"),
    ("events", "events"),
    ("reconnects", "reconnects"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p99_ms", "p99 ms"),
    ("last_error", "last error"),
)
_STYLE = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}td:first-child,th{text-align:left}"
    ".state{text-align:left}.running{background:#dff5df}.backing_off,.connecting{background:#fdf0c8}"
    ".failed,.stopped{background:#f8d7d7}"
)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return html.escape(str(value))


def _camera_row(camera: CameraStatus) -> str:
    cells = []
    for key, _ in _COLUMNS:
        value = getattr(camera, key)
        css = f' class="state {html.escape(value)}"' if key == "state" else ""
        cells.append(f"<td{css}>{_cell(value)}</td>")
    return "<tr>" + "".join(cells) + "</tr>"


def render_status_page(status: FleetStatus | None) -> str:
    """The status page for ``status`` (None: a page saying the controller does not answer)."""
    head = (
        f'<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{_REFRESH_S}">'
        f"<title>camfleet</title><style>{_STYLE}</style></head><body><h1>camfleet</h1>"
    )
    if status is None:
        return head + "<p>The controller does not answer.</p></body></html>"
    workers = status.live_workers()
    requests = sum(w.batcher.requests for w in workers)
    errors = sum(w.batcher.request_errors for w in workers)
    published = sum(w.sink.published for w in workers)
    dropped = sum(w.sink.dropped for w in workers)
    summary = {
        "design": status.design,
        "policy": status.policy,
        "uptime (s)": status.uptime_s,
        "aggregate fps": round(status.aggregate_fps, 1),
        "workers alive / all": f"{len(workers)} / {len(status.workers)}",
        "cameras moved off lost workers": status.replacements,
        "Triton requests / errors": f"{requests} / {errors}",
        "events published / dropped": f"{published} / {dropped}",
        "Redis connected": all(w.sink.connected for w in workers) if workers else None,
        "cameras not placed": ", ".join(status.unplaced) or "none",
    }
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in summary.items())
    header = "".join(f"<th>{html.escape(title)}</th>" for _, title in _COLUMNS)
    cameras = "".join(_camera_row(camera) for camera in status.cameras)
    return (
        f"{head}<table>{rows}</table><h2>Cameras</h2>"
        f"<table><tr>{header}</tr>{cameras or '<tr><td>no cameras</td></tr>'}</table></body></html>"
    )
