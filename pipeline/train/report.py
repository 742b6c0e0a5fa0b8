"""The accuracy report of ``camfleet eval``: a JSON file and a markdown table, one row per design."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from pipeline.models.classes import CONDITIONS, GROUPS
from pipeline.train.evaluate import DesignAccuracy

logger = logging.getLogger(__name__)

JSON_NAME = "accuracy.json"
MARKDOWN_NAME = "accuracy.md"


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def accuracy_markdown(results: Sequence[DesignAccuracy], *, title: str = "mAP@0.5 per design") -> str:
    """A markdown table: overall, per condition and per class group mAP@0.5 for each design."""
    columns = ("design", "frames", "all", *CONDITIONS, *GROUPS)
    lines = [
        f"# {title}",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|",
    ]
    for r in results:
        cells = [
            r.design,
            str(r.images),
            _cell(r.map50),
            *(_cell(r.per_condition.get(c)) for c in CONDITIONS),
            *(_cell(r.per_group.get(g)) for g in GROUPS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "`-`: no ground-truth box in that subset. Computed with faster-coco-eval (COCO 101-point AP).",
    ]
    return "\n".join(lines) + "\n"


def write_accuracy_report(
    results: Sequence[DesignAccuracy], out: Path, *, meta: dict[str, object] | None = None
) -> tuple[Path, Path]:
    """Write ``accuracy.json`` and ``accuracy.md`` into ``out``; returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / JSON_NAME, out / MARKDOWN_NAME
    payload = {"meta": meta or {}, "designs": [r.to_dict() for r in results]}
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    md_path.write_text(accuracy_markdown(results))
    logger.info("wrote %s and %s", json_path, md_path)
    return json_path, md_path
