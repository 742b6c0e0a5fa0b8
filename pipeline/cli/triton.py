"""`camfleet triton` verbs."""

import typer

app = typer.Typer(help="triton commands.", no_args_is_help=True)
