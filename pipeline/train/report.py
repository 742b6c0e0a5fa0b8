"""The accuracy report of ``camfleet eval``: a JSON file and a markdown table, one row per design."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from pipeline.models.classes import CONDITIONS, GROUPS
from pipeline.train.evaluate import DesignAccuracy, Difference

logger = logging.getLogger(__name__)

JSON_NAME = "accuracy.json"
MARKDOWN_NAME = "accuracy.md"


def _cell(value: float | None, interval: tuple[float, float] | None = None) -> str:
    if value is None:
        return "-"
    if interval is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def differences_markdown(differences: Sequence[Difference]) -> list[str]:
    """One line per pair of designs: the overall mAP difference, its interval, whether it is significant."""
    if not differences:
        return []
    lines = ["", "Differences in overall mAP@0.5 (paired bootstrap, 95%):", ""]
    for d in differences:
        verdict = "significant" if d.significant else "not significant"
        lines.append(
            f"- {d.a} - {d.b}: {d.delta:+.3f} [{d.interval[0]:+.3f}, {d.interval[1]:+.3f}], {verdict}"
        )
    return lines


def accuracy_markdown(
    results: Sequence[DesignAccuracy],
    *,
    title: str = "mAP@0.5 per design",
    differences: Sequence[Difference] = (),
) -> str:
    """A markdown table: overall, per condition and per class group mAP@0.5 (and 95% interval) per design."""
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
            _cell(r.map50, r.intervals.get("all")),
            *(_cell(r.per_condition.get(c), r.intervals.get(c)) for c in CONDITIONS),
            *(_cell(r.per_group.get(g), r.intervals.get(g)) for g in GROUPS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "`-`: no ground-truth box in that subset. Computed with faster-coco-eval (COCO 101-point AP); "
        "brackets: bootstrap 95% interval over the evaluation frames.",
        *differences_markdown(differences),
    ]
    return "\n".join(lines) + "\n"


def write_accuracy_report(
    results: Sequence[DesignAccuracy],
    out: Path,
    *,
    meta: dict[str, object] | None = None,
    differences: Sequence[Difference] = (),
) -> tuple[Path, Path]:
    """Write ``accuracy.json`` and ``accuracy.md`` into ``out``; returns both paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / JSON_NAME, out / MARKDOWN_NAME
    payload = {
        "meta": meta or {},
        "designs": [r.to_dict() for r in results],
        "differences": [d.to_dict() for d in differences],
    }
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    md_path.write_text(accuracy_markdown(results, differences=differences))
    logger.info("wrote %s and %s", json_path, md_path)
    return json_path, md_path
