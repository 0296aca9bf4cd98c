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
    from thalamus.model.parameters import MODEL_VERSION

    stored = golden.load()
    if stored["model_version"] != MODEL_VERSION:
        click.echo(
            f"golden results are for model {stored['model_version']}, not "
            f"{MODEL_VERSION}; refresh them: python -m thalamus.golden --refresh",
            err=True,
        )
        sys.exit(1)
    with tempfile.TemporaryDirectory(prefix="thalamus-golden-") as tmp:
        now = golden.digests(tmp)
    changed = [
        name
        for name in golden.CAMPAIGNS
        if stored["campaigns"][name]["rows_sha256"]
        != now["campaigns"][name]["rows_sha256"]
    ]
    if not changed:
        click.echo("golden results: unchanged")
        return
    click.echo(f"golden results changed: {', '.join(changed)}", err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
