"""Entry point of the ``camfleet`` command: one sub-command group per part of the system."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli import answer, bench, events, loadtest, models, plan, run, train, triton, world
from pipeline.cli.common import setup_logging

app = typer.Typer(
    name="camfleet",
    help=(
        "Object detection on many cameras, and which network design to run.\n\n"
        "Examples:\n\n"
        "  camfleet models profile --json\n\n"
        "  camfleet models export\n\n"
        "  camfleet triton serve --grpc-port 8001\n\n"
        "  camfleet bench models --json\n\n"
        "  camfleet plan --cameras 16 --fps 10 --mix day=0.5,dusk=0.3,night=0.2\n\n"
        "  camfleet answer --cameras 16 --out reports/answer\n\n"
        "  camfleet demo --seconds 60"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(models.app, name="models")
app.add_typer(triton.app, name="triton")
app.add_typer(world.app, name="world")
app.add_typer(bench.app, name="bench")
app.add_typer(events.app, name="events")
app.add_typer(plan.app, name="plan")
app.command("run")(run.run_command)
app.command("demo")(run.demo_command)
app.command("train")(train.train_command)
app.command("eval")(train.eval_command)
app.command("loadtest")(loadtest.loadtest_command)
app.command("answer")(answer.answer_command)


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    setup_logging(verbose)


def main() -> None:
    """Run the ``camfleet`` command line."""
    app()


if __name__ == "__main__":
    main()
