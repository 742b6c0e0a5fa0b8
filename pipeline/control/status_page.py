"""A small self-refreshing HTML status page (``GET /``) rendered from a pipeline snapshot.

No templates and no scripts: one table of cameras and a few totals, every value HTML-escaped (camera ids
and error messages come from users and streams).
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

_REFRESH_S = 5
_COLUMNS = (
    ("camera_id", "camera"),
    ("state", "state"),
    ("model", "model"),
    ("condition", "condition"),
    ("fps", "fps"),
    ("frames_in", "frames in"),
    ("frames_inferred", "inferred"),
    ("frames_skipped_motion", "skipped (motion)"),
    ("dropped_decode_queue", "dropped"),
    ("events", "events"),
    ("reconnects", "reconnects"),
    ("latency_p50_ms", "p50 ms"),
    ("latency_p99_ms", "p99 ms"),
    ("last_error", "last error"),
)
_STYLE = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}td:first-child,th{text-align:left}"
)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return html.escape(str(value))


def render_status_page(snapshot: Mapping[str, Any] | None, age_s: float | None) -> str:
    """The status page for ``snapshot`` (None: a page saying the pipeline has not reported yet)."""
    head = (
        f'<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{_REFRESH_S}">'
        f"<title>camfleet</title><style>{_STYLE}</style></head><body><h1>camfleet</h1>"
    )
    if snapshot is None:
        return head + "<p>The pipeline has not reported yet.</p></body></html>"
    batcher = snapshot.get("batcher") or {}
    sink = snapshot.get("sink") or {}
    summary = {
        "design": snapshot.get("design"),
        "uptime (s)": snapshot.get("uptime_s"),
        "aggregate fps": snapshot.get("aggregate_fps"),
        "Triton requests / errors": f"{batcher.get('requests', '-')} / {batcher.get('request_errors', '-')}",
        "scheduler switches": snapshot.get("scheduler_switches"),
        "events published / dropped": f"{sink.get('published', '-')} / {sink.get('dropped', '-')}",
        "Redis connected": sink.get("connected"),
        "snapshot age (s)": None if age_s is None else round(age_s, 1),
    }
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in summary.items())
    header = "".join(f"<th>{html.escape(title)}</th>" for _, title in _COLUMNS)
    cameras = "".join(
        "<tr>" + "".join(f"<td>{_cell(camera.get(key))}</td>" for key, _ in _COLUMNS) + "</tr>"
        for camera in snapshot.get("cameras") or []
    )
    return (
        f"{head}<table>{rows}</table><h2>Cameras</h2>"
        f"<table><tr>{header}</tr>{cameras or '<tr><td>no cameras</td></tr>'}</table></body></html>"
    )
