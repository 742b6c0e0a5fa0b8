"""`camfleet world` verbs: synthetic clips, data sets and simulated cameras."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from pipeline.cli.common import JsonOption, console, handle_errors
from pipeline.errors import ConfigError
from pipeline.models.classes import CONDITIONS

logger = logging.getLogger(__name__)

app = typer.Typer(
    help=(
        "Synthetic street scenes: clips with labels, YOLO data sets, simulated cameras.\n\n"
        "Examples:\n\n"
        "  camfleet world clip --condition night --seconds 20 --size 640x360 --fps 10 --seed 1 "
        "--out night.mp4\n\n"
        "  camfleet world dataset --out data/synth --images 2000 --size 160\n\n"
        "  camfleet world cameras --cameras 4 --rtsp"
    ),
    no_args_is_help=True,
)


def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError as exc:
        raise ConfigError(f"--size must look like 640x360, got {text!r}") from exc
    return width, height


@app.command(
    epilog="Example: camfleet world clip --condition night --seconds 20 --size 640x360 --out night.mp4"
)
@handle_errors
def clip(
    out: Annotated[Path, typer.Option("--out", help="Output .mp4; labels go to <out>.labels.json.")],
    condition: Annotated[str, typer.Option(help=f"One of {', '.join(CONDITIONS)}, or cycle.")] = "day",
    seconds: Annotated[float, typer.Option(min=0.1, help="Clip length in seconds.")] = 20.0,
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT, both even.")] = "640x360",
    fps: Annotated[int, typer.Option(min=1, max=120, help="Frames per second.")] = 10,
    seed: Annotated[int, typer.Option(help="Scene seed; the same seed gives the same clip.")] = 0,
    json_output: JsonOption = False,
) -> None:
    """Render a synthetic street clip (H.264) and its per-frame labels."""
    from pipeline.world.clips import Schedule, write_clip

    schedule = Schedule.cycle(seconds) if condition == "cycle" else None
    info = write_clip(out, condition="day" if schedule else condition, seconds=seconds,
                      size=_parse_size(size), fps=fps, seed=seed, schedule=schedule)  # fmt: skip
    if json_output:
        print(json.dumps({"clip": str(info.path), "labels": str(info.labels_path), "frames": info.frames}))
    else:
        console.print(f"wrote {info.path} ({info.frames} frames) and {info.labels_path}")


@app.command(epilog="Example: camfleet world dataset --out data/synth --images 2000 --size 160 --seed 0")
@handle_errors
def dataset(
    out: Annotated[Path, typer.Option("--out", help="Output folder (YOLO layout + data.yaml).")],
    images: Annotated[int, typer.Option(min=1, help="Number of images.")],
    size: Annotated[int, typer.Option(min=16, help="Square image side in pixels.")] = 160,
    seed: Annotated[int, typer.Option(help="Base seed.")] = 0,
    val_fraction: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share of images in val.")] = 0.2,
) -> None:
    """Write a YOLO-format data set of synthetic images across day, dusk and night."""
    from pipeline.world.dataset import write_dataset

    with Progress(console=console) as bar:
        task = bar.add_task("rendering", total=images)
        data_yaml = write_dataset(out, images=images, size=size, seed=seed, val_fraction=val_fraction,
                                  progress=lambda n: bar.advance(task, n))  # fmt: skip
    console.print(f"wrote {images} images; data set: {data_yaml}")


@app.command(epilog="Example: camfleet world cameras --cameras 4 --rtsp --seconds 30")
@handle_errors
def cameras(
    count: Annotated[int, typer.Option("--cameras", min=1, max=256, help="Number of cameras.")] = 4,
    rtsp: Annotated[
        bool, typer.Option("--rtsp", help="Serve through rtsp-server-perl instead of TCP.")
    ] = False,
    seconds: Annotated[float, typer.Option(min=1.0, help="Clip length (loop period).")] = 20.0,
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT.")] = "640x360",
    fps: Annotated[int, typer.Option(min=1, max=60, help="Frames per second.")] = 10,
    workdir: Annotated[Path | None, typer.Option(help="Where clips are kept (default: a temp dir).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Serve simulated cameras (looping, real-time) and print their URLs until Ctrl-C."""
    from pipeline.world.simulator import CameraSimulator

    with tempfile.TemporaryDirectory(prefix="camfleet-world-") as tmp:
        simulator = CameraSimulator(count, workdir or Path(tmp), rtsp=rtsp, seconds=seconds,
                                    size=_parse_size(size), fps=fps)  # fmt: skip
        with simulator:
            if json_output:
                print(json.dumps([{"id": c.camera_id, "condition": c.condition, "url": c.url,
                                   "labels": str(c.labels)} for c in simulator.cameras]))  # fmt: skip
            else:
                for cam in simulator.cameras:
                    console.print(f"{cam.camera_id}  {cam.condition:5}  {cam.url}")
                console.print("serving; press Ctrl-C to stop")
            try:
                while True:
                    time.sleep(1.0)
            except KeyboardInterrupt:
                console.print("stopping")
