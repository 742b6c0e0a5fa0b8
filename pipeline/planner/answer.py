"""``camfleet answer``: one self-contained report that answers the user's question for a machine and a mix.

Which design is faster for these cameras, by how much, at what accuracy cost, and how we know: the planner's
prediction of every design (capacity, throughput, binding limit, CPU per stage), accuracy with bootstrap
intervals when an ``accuracy.json`` from ``camfleet eval`` is given, predicted against measured where
load-test reports are given, and how the answer moves with load (one camera against saturation) and with
the stream mix. The report is built once as sections (text, tables, plots) and rendered twice: markdown
with PNG files beside it, and one HTML file with the plots embedded.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402

from pipeline.errors import ConfigError  # noqa: E402
from pipeline.models.classes import CONDITIONS, GROUPS  # noqa: E402
from pipeline.models.model_config import ModelConfig  # noqa: E402
from pipeline.planner.cost import design_cost  # noqa: E402
from pipeline.planner.hardware import HardwareProfile  # noqa: E402
from pipeline.planner.plan import STAGES, DesignPlan, PlanSettings, operating_point, plan  # noqa: E402
from pipeline.planner.validate import ValidationSummary, validate_reports  # noqa: E402

logger = logging.getLogger(__name__)

MIXES: dict[str, dict[str, float]] = {
    "all day": {"day": 1.0},
    "all night": {"night": 1.0},
    "even": {"day": 1.0, "dusk": 1.0, "night": 1.0},
}
"""Stream mixes the report re-plans for, besides the one asked about."""


@dataclass(frozen=True)
class Table:
    """A table of one section."""

    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


@dataclass
class Section:
    """A titled part of the report: paragraphs, tables and plots (name -> PNG bytes), in that order."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    plots: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Accuracy:
    """What ``camfleet eval`` wrote: per design mAP@0.5 with intervals, and pairwise differences."""

    designs: dict[str, dict[str, Any]]
    differences: list[dict[str, Any]]
    meta: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Accuracy:
        """Read an ``accuracy.json``.

        Raises:
            ConfigError: if it is missing or not an accuracy report.
        """
        try:
            data = json.loads(path.read_text())
            designs = {d["design"]: d for d in data["designs"]}
        except FileNotFoundError as exc:
            raise ConfigError(f"accuracy report {path} does not exist; run `camfleet eval --all`") from exc
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is not an accuracy.json of `camfleet eval`: {exc}") from exc
        return cls(designs, list(data.get("differences", [])), dict(data.get("meta", {})))

    def figure(self, design: str, key: str = "all") -> tuple[float | None, tuple[float, float] | None]:
        """mAP@0.5 of ``design`` (``all``, a condition or a group) and its interval, if measured."""
        entry = self.designs.get(design)
        if entry is None:
            return None, None
        if key == "all":
            value = entry.get("map50")
        else:
            value = {**entry.get("per_condition", {}), **entry.get("per_group", {})}.get(key)
        interval = entry.get("intervals", {}).get(key)
        return value, ((float(interval[0]), float(interval[1])) if interval else None)


@dataclass
class Answer:
    """Everything the report says, computed once."""

    question: str
    config_name: str
    hardware: HardwareProfile
    cameras: int
    settings: PlanSettings
    plans: list[DesignPlan]
    one_camera: dict[str, Any]
    by_mix: dict[str, list[DesignPlan]]
    validation: ValidationSummary | None
    accuracy: Accuracy | None

    @property
    def best(self) -> DesignPlan:
        """The recommended design: most cameras at the target, then most frames/s."""
        return self.plans[0]

    def plan_of(self, design: str) -> DesignPlan:
        """This question's plan of ``design``."""
        return next(p for p in self.plans if p.design == design)


def build_answer(
    config: ModelConfig,
    hardware: HardwareProfile,
    *,
    cameras: int,
    settings: PlanSettings,
    config_name: str = "default",
    reports: Sequence[Path] = (),
    accuracy: Path | None = None,
) -> Answer:
    """Plan every design for the question, re-plan for other mixes, and read the evidence given."""
    plans = plan(config, hardware, cameras=cameras, settings=settings)
    one_camera = {
        p.design: operating_point(
            design_cost(p.design, config, mix=settings.mix), hardware, config, 1, settings
        )
        for p in plans
    }
    by_mix = {
        label: plan(config, hardware, cameras=cameras, settings=replace(settings, mix=mix))
        for label, mix in MIXES.items()
    }
    tracked = "K" if settings.detections_per_frame is None else f"{settings.detections_per_frame:g}"
    mix_text = ", ".join(f"{k}={v:g}" for k, v in (settings.mix or {}).items()) or "equal day/dusk/night"
    question = (
        f"{cameras} cameras at {settings.fps:g} fps, {settings.resolution[0]}x{settings.resolution[1]}, "
        f"streams {mix_text}, {tracked} tracked detections per frame, on {hardware.device}: "
        "which design is fastest?"
    )
    return Answer(
        question=question,
        config_name=config_name,
        hardware=hardware,
        cameras=cameras,
        settings=settings,
        plans=plans,
        one_camera=one_camera,
        by_mix=by_mix,
        validation=validate_reports(reports, config, hardware) if reports else None,
        accuracy=Accuracy.load(accuracy) if accuracy else None,
    )


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def _capacity_plot(answer: Answer) -> bytes:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = [p.design for p in answer.plans]
    ax.barh(names, [p.max_cameras for p in answer.plans], color="C0", label="predicted max cameras")
    if answer.validation:
        measured = {d.design: d.measured_knee for r in answer.validation.reports for d in r.designs}
        xs = [measured.get(n) for n in names]
        ax.scatter(
            [x for x in xs if x is not None],
            [n for n, x in zip(names, xs, strict=True) if x is not None],
            color="C3",
            zorder=3,
            label="measured knee (load test)",
        )
    ax.axvline(answer.cameras, color="grey", linestyle=":", label=f"asked: {answer.cameras}")
    ax.set_xlabel(f"cameras at {answer.settings.fps:g} fps")
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _stage_plot(answer: Answer) -> bytes:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = [p.design for p in answer.plans]
    left = [0.0] * len(names)
    for index, stage in enumerate(STAGES):
        values = [getattr((p.at_max or p.at_request).stage_ms, stage) for p in answer.plans]
        ax.barh(names, values, left=left, color=f"C{index}", label=stage)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlabel("core-ms per frame at the knee")
    ax.invert_yaxis()
    ax.legend(ncol=len(STAGES), fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return _png(fig)


def _frontier_plot(answer: Answer, accuracy: Accuracy) -> bytes:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    points = []
    for p in answer.plans:
        value, interval = accuracy.figure(p.design)
        if value is None:
            continue
        low, high = interval or (value, value)
        ax.errorbar(p.max_cameras, value, yerr=[[value - low], [high - value]], fmt="o", capsize=4)
        ax.annotate(p.design, (p.max_cameras, value), textcoords="offset points", xytext=(6, 4), fontsize=8)
        points.append((p.max_cameras, value))
    frontier, best = [], -1.0
    for cams, value in sorted(points, key=lambda cv: (-cv[0], -cv[1])):
        if value > best:
            frontier.append((cams, value))
            best = value
    if len(frontier) > 1:
        ax.plot(*zip(*sorted(frontier), strict=True), color="grey", linestyle="--", label="frontier")
        ax.legend(fontsize=8)
    ax.set_xlabel("max cameras (predicted)")
    ax.set_ylabel("mAP@0.5 (95% interval)")
    return _png(fig)


def _validation_plot(validation: ValidationSummary) -> bytes:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    top = 1.0
    for index, report in enumerate(validation.reports):
        xs = [d.measured_fps for d in report.designs]
        ys = [d.predicted_fps for d in report.designs]
        ax.scatter(xs, ys, color=f"C{index}", label=report.config)
        top = max(top, *xs, *ys)
    line = [0, top * 1.1]
    ax.plot(line, line, color="black", linewidth=0.8)
    ax.fill_between(
        line, [0.9 * v for v in line], [1.1 * v for v in line], color="grey", alpha=0.2, label="+-10%"
    )
    ax.set_xlabel("measured saturated fps")
    ax.set_ylabel("predicted saturated fps")
    ax.legend(fontsize=8)
    return _png(fig)


def _interval_text(value: float | None, interval: tuple[float, float] | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def _difference_text(difference: dict[str, Any]) -> str:
    """``a - b: +0.012 [-0.004, +0.027], not significant`` from one entry of ``accuracy.json``."""
    low, high = difference["interval"]
    verdict = "significant" if difference["significant"] else "not significant"
    pair = f"{difference['a']} - {difference['b']}"
    return f"{pair}: {difference['delta']:+.3f} [{low:+.3f}, {high:+.3f}], {verdict}"


def _summary(answer: Answer) -> Section:
    best = answer.best
    monolith = answer.plan_of("monolith")
    point = best.at_max or best.at_request
    share = 100 * point.stage_ms.inference / max(point.stage_ms.total, 1e-9)
    ratio = best.max_cameras / monolith.max_cameras if monolith.max_cameras else float("inf")
    lines = [
        f"**Question:** {answer.question}",
        f"**Answer: {best.design}.** It serves {best.max_cameras} cameras at the target "
        f"({best.capacity_fps:.0f} frames/s at most), {ratio:.2f}x the monolith's {monolith.max_cameras}. "
        f"{'It fits' if best.max_cameras >= answer.cameras else 'It does not fit'} the {answer.cameras} "
        f"cameras asked for.",
        f"**Why:** past its knee the binding limit is {best.bottleneck}; a frame costs "
        f"{point.stage_ms.total:.1f} core-ms there, {share:.0f}% of it inference "
        f"(batches {', '.join(f'{k}={v:g}' for k, v in point.batches.items())}).",
    ]
    if answer.accuracy:
        value, interval = answer.accuracy.figure(best.design)
        mono_value, mono_interval = answer.accuracy.figure("monolith")
        lines.append(
            f"**Accuracy cost:** mAP@0.5 {_interval_text(value, interval)} for {best.design} against "
            f"{_interval_text(mono_value, mono_interval)} for the monolith."
        )
        for difference in answer.accuracy.differences:
            if {difference["a"], difference["b"]} == {best.design, "monolith"}:
                lines.append(f"Difference in mAP@0.5: {_difference_text(difference)}.")
    else:
        lines.append("**Accuracy:** not given (pass `--accuracy reports/accuracy/accuracy.json`).")
    how = (
        f"**How we know:** predicted by camfleet's planner from the model config's layers and a hardware "
        f"profile measured by probes that never run these models ({answer.hardware.notes or 'calibrated'}, "
        f"{answer.hardware.calibration_s:.0f} s)."
    )
    if answer.validation:
        v = answer.validation
        how += (
            f" Against {len(v.reports)} load test(s): saturated fps within 10% for {v.fps_within:.0%} of "
            f"{len(v.checks)} design x config points (mean |error| {v.mean_abs_fps_error:.1%}), knee "
            f"within one sweep step for {v.knees_within:.0%}, ranking right for {v.rankings_right} of "
            f"{len(v.reports)} (for {v.separated_rankings_right} on the pairs the load tests tell apart)."
        )
    else:
        how += " No load test was given to check it against (`--loadtest out/report.json`)."
    lines.append(how)
    return Section("Answer", lines)


def _designs_section(answer: Answer) -> Section:
    rows = []
    for p in answer.plans:
        point = p.at_max or p.at_request
        rows.append(
            (
                p.design,
                str(p.max_cameras),
                f"{p.capacity_fps:.0f}",
                p.bottleneck,
                f"{point.stage_ms.total:.1f}",
                f"{point.stage_ms.inference:.1f}",
                f"{point.latency_ms:.0f}",
                f"{p.memory_mb:.0f}",
            )
        )
    header = (
        "design",
        "max cameras",
        "max fps",
        "limit",
        "core-ms/frame",
        "of it inference",
        "latency ms",
        "Triton MB",
    )
    return Section(
        "Capacity and throughput of every design",
        [
            f"Model config: {answer.config_name}; hardware: {answer.hardware.device} "
            f"({answer.hardware.usable_cores:.2f} usable cores). Figures at each design's knee."
        ],
        [Table(header, rows)],
        {"capacity.png": _capacity_plot(answer), "stages.png": _stage_plot(answer)},
    )


def _accuracy_section(answer: Answer) -> Section:
    if answer.accuracy is None:
        return Section("Accuracy", ["No accuracy report was given."])
    accuracy = answer.accuracy
    keys = ("all", *CONDITIONS, *GROUPS)
    rows = [
        (p.design, *(_interval_text(*accuracy.figure(p.design, key)) for key in keys)) for p in answer.plans
    ]
    meta = accuracy.meta
    per_condition = meta.get("frames_per_condition")
    split = (
        ", ".join(
            f"{count:,} {condition}" if isinstance(count, int) else f"{count} {condition}"
            for condition, count in per_condition.items()
        )
        if isinstance(per_condition, dict)
        else "?"
    )
    paragraphs = [
        f"mAP@0.5 with bootstrap 95% intervals over {meta.get('frames', '?')} evaluation frames "
        f"({split}; {meta.get('bootstrap_resamples', '?')} resamples, drawn within each condition)."
    ]
    paragraphs += [_difference_text(d) for d in accuracy.differences]
    return Section(
        "Accuracy per condition and class group",
        paragraphs,
        [Table(("design", *keys), rows)],
        {"frontier.png": _frontier_plot(answer, accuracy)},
    )


def _load_section(answer: Answer) -> Section:
    rows = []
    for p in answer.plans:
        one = answer.one_camera[p.design]
        full = p.at_max or p.at_request
        rows.append(
            (
                p.design,
                f"{one.stage_ms.total - one.stage_ms.decode:.1f}",
                f"{max(one.batches.values()):.1f}",
                f"{one.latency_ms:.0f}",
                f"{full.stage_ms.total - full.stage_ms.decode:.1f}",
                f"{max(full.batches.values()):.1f}",
                f"{full.latency_ms:.0f}",
            )
        )
    header = (
        "design",
        "1 camera: core-ms/frame",
        "batch",
        "latency ms",
        "knee: core-ms/frame",
        "batch",
        "latency ms",
    )
    mix_rows = []
    for label, plans in answer.by_mix.items():
        ranked = " > ".join(f"{p.design} ({p.max_cameras})" for p in plans)
        mix_rows.append((label, plans[0].design, ranked))
    return Section(
        "How the answer changes with load and with the stream mix",
        [
            "At one camera every model runs at batch ~1 and the fixed cost of each call dominates; at the "
            "knee batches fill to the latency budget. Core-ms per frame exclude decode, which every design "
            "pays alike.",
            "Condition designs split the frames by the mix, so each specialist's batch shrinks as the mix "
            "spreads; class-group designs run every model on every frame whatever the mix.",
        ],
        [Table(header, rows), Table(("mix", "best", "ranking (max cameras)"), mix_rows)],
    )


def _validation_section(answer: Answer) -> Section:
    if answer.validation is None:
        return Section("Predicted against measured", ["No load-test report was given."])
    v = answer.validation
    rows = [
        (
            r.config,
            d.design,
            "-" if d.measured_knee is None else str(d.measured_knee),
            str(d.predicted_knee),
            f"{d.measured_fps:.1f}",
            f"{d.predicted_fps:.1f}",
            f"{d.fps_error:+.1%}",
        )
        for r in v.reports
        for d in r.designs
    ]
    rankings = [
        f"{r.config}: ranking {'right' if r.ranking_matches else 'wrong'} "
        f"(measured {' > '.join(r.measured_ranking)}); pairs measured apart but predicted the other way: "
        f"{', '.join(f'{a} > {b}' for a, b in r.misordered_pairs) or 'none'}"
        for r in v.reports
    ]
    return Section(
        "Predicted against measured",
        rankings,
        [Table(("config", "design", "knee meas", "knee pred", "fps meas", "fps pred", "fps err"), rows)],
        {"validation.png": _validation_plot(v)},
    )


def sections(answer: Answer) -> list[Section]:
    """The report's sections, in order."""
    return [
        _summary(answer),
        _designs_section(answer),
        _accuracy_section(answer),
        _load_section(answer),
        _validation_section(answer),
    ]


def render_markdown(parts: Sequence[Section]) -> str:
    """Markdown, with each plot referenced as a PNG file of its name beside the report."""
    lines = ["# camfleet answer", ""]
    for part in parts:
        lines += [f"## {part.title}", ""]
        for paragraph in part.paragraphs:
            lines += [paragraph, ""]
        for table in part.tables:
            lines.append("| " + " | ".join(table.header) + " |")
            lines.append("|" + "|".join("---" for _ in table.header) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in table.rows]
            lines.append("")
        for name in part.plots:
            lines += [f"![{name}]({name})", ""]
    return "\n".join(lines)


def _inline(text: str) -> str:
    escaped = html.escape(text)
    while escaped.count("**") >= 2:  # the summary's bold lead-ins
        escaped = escaped.replace("**", "<b>", 1).replace("**", "</b>", 1)
    return escaped.replace("`", "")


def render_html(parts: Sequence[Section]) -> str:
    """One self-contained HTML page: the plots are embedded as base64 PNGs."""
    body = ["<h1>camfleet answer</h1>"]
    for part in parts:
        body.append(f"<h2>{html.escape(part.title)}</h2>")
        body += [f"<p>{_inline(p)}</p>" for p in part.paragraphs]
        for table in part.tables:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        for name, png in part.plots.items():
            data = base64.b64encode(png).decode("ascii")
            body.append(
                f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{data}"></figure>'
            )
    style = (
        "body{font-family:sans-serif;max-width:960px;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>camfleet answer</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_answer(answer: Answer, out: Path) -> tuple[Path, Path]:
    """Write ``answer.md`` (with its PNGs) and a self-contained ``answer.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    parts = sections(answer)
    for part in parts:
        for name, png in part.plots.items():
            (out / name).write_bytes(png)
    markdown, page = out / "answer.md", out / "answer.html"
    markdown.write_text(render_markdown(parts))
    page.write_text(render_html(parts))
    logger.info("wrote %s and %s", markdown, page)
    return markdown, page
