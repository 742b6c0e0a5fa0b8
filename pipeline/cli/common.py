"""Options and error handling shared by every ``camfleet`` verb."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console

from pipeline.errors import CamfleetError
from pipeline.models.model_config import ModelConfig, load_model_config

# Piped output (CI logs, `| less`) gets 120 columns instead of rich's 80, so tables keep their names.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

P = ParamSpec("P")
R = TypeVar("R")

ModelConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--model-config",
        help="Model-size YAML (default: the shipped pipeline/models/default_models.yaml).",
        exists=True,
        dir_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")]


def model_config_from(path: Path | None, input_size: int | None = None) -> ModelConfig:
    """Load the model config from ``path`` (or the default), optionally overriding the input size."""
    config = load_model_config(path)
    return config.with_input_size(input_size) if input_size else config


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`CamfleetError` into a one-line message on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except CamfleetError as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(code=1) from exc

    return wrapper


def setup_logging(verbose: bool) -> None:
    """Configure logging for a CLI run."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
