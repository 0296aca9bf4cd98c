"""``python -m thalamus.golden [--refresh]``: check or rewrite the goldens."""

from __future__ import annotations

import sys
import tempfile

import click

from thalamus import golden


@click.command()
@click.option("--refresh", is_flag=True, help="Rewrite the stored golden digests.")
def main(refresh: bool) -> None:
    """Compare the demo and benchmark outputs with the stored goldens."""
    if refresh:
        data = golden.refresh()
        click.echo(f"wrote {golden.GOLDEN_FILE} (model {data['model_version']})")
        return
    with tempfile.TemporaryDirectory(prefix="thalamus-golden-") as tmp:
        problems = golden.differences(golden.load(), golden.digests(tmp))
    for line in problems:
        click.echo(line, err=True)
    if problems:
        sys.exit(1)
    click.echo("golden results: unchanged")


if __name__ == "__main__":
    main()
