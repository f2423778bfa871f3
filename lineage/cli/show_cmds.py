"""show diff, show asset, show label: the review site, static pages opened from disk."""

from __future__ import annotations

import click

from lineage.cli import main
from lineage.cli.common import open_repo, rev_option
from lineage.cli.output import emit_json, format_option, message, render, working

out_option = click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False),
    default="lineage-site",
    show_default=True,
    help="Folder to write the site to (replaced if an earlier `lineage show` wrote it).",
)
images_option = click.option(
    "--images",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Folder holding the images (default: look for each asset's uri in the work tree).",
)


@main.group()
def show() -> None:
    """Write a static review site: labels drawn on their images, what changed between
    two revisions, and each label's history and review passes. Open its index.html in
    any browser; the pages load nothing from the network.

    \b
    Example:
      lineage show diff v1 v2 --out review && xdg-open review/index.html
      lineage show label 3f2a5a53f5c1feb0 --rev v2
      lineage show asset images/000123.jpg --images data/images
    """


def _report(site, fmt: str) -> None:
    if fmt == "json":
        emit_json(site.as_dict())
    else:
        import pyarrow as pa

        render(pa.Table.from_pylist([site.as_dict()]), fmt, title="site")
    message(f"Open {site.index}")


@show.command("diff")
@click.argument("a")
@click.argument("b", required=False)
@out_option
@images_option
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    help="Only labels with this kind of change (repeatable): added, removed, geometry, "
    "moved, class, attributes, annotator, source, guideline, review.",
)
@click.option("--class", "classes", multiple=True, help="Only labels of this class (repeatable).")
@click.option(
    "--annotator", "annotators", multiple=True, help="Only labels by this annotator (repeatable)."
)
@click.option(
    "--iou-threshold",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="A geometry change with IoU below this is 'moved', else 'geometry'.",
)
@format_option()
@click.pass_context
def show_diff(ctx, a, b, out, images, kinds, classes, annotators, iou_threshold, fmt):
    """The changes from revision A to B (default: the work state) as pages: an index of
    changed assets (counts per kind, filters, paging) and a page per asset with its
    labels at A dashed and at B solid, coloured by kind of change.

    \b
    Example:
      lineage show diff v1 v2 --out review
      lineage show diff v1 v2 --kind moved --kind class --images /data/images
    """
    repo = open_repo(ctx)
    with working("writing the site") as tick:
        site = repo.show_diff(
            a,
            b,
            out,
            images=images,
            kinds=kinds,
            classes=classes,
            annotators=annotators,
            iou_threshold=iou_threshold,
            progress=tick,
        )
    _report(site, fmt)


@show.command("label")
@click.argument("label_id", required=False)
@click.option("--external-id", default=None, help="Find the label by the id its tool gave it.")
@rev_option
@out_option
@images_option
@format_option()
@click.pass_context
def show_label(ctx, label_id, external_id, rev, out, images, fmt):
    """A page for one label: every revision of it drawn on its image (earlier dashed,
    the latest solid) with its history and review passes open.

    \b
    Example:
      lineage show label 3f2a5a53f5c1feb0 --out review
    """
    if (label_id is None) == (external_id is None):
        raise click.UsageError("give either LABEL_ID or --external-id")
    labels = [label_id] if label_id else []
    site = open_repo(ctx).show(out, rev=rev, labels=labels, external_id=external_id, images=images)
    _report(site, fmt)


@show.command("asset")
@click.argument("asset_ids", nargs=-1, required=True)
@rev_option
@out_option
@images_option
@format_option()
@click.pass_context
def show_asset(ctx, asset_ids, rev, out, images, fmt):
    """A page per image with its current labels (coloured by class); click a label for
    its history.

    \b
    Example:
      lineage show asset street_001.jpg --rev v2 --out review
    """
    site = open_repo(ctx).show(out, rev=rev, assets=asset_ids, images=images)
    _report(site, fmt)
