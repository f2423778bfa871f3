"""import and export."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lineage.cli import main
from lineage.cli.common import open_repo, rev_option, show_notes
from lineage.cli.output import format_option, message, render, working
from lineage.errors import InputError
from lineage.formats import FORMATS

FORMAT_NAMES = ["auto", *FORMATS]
DRY_RUN_COLUMNS = ["label_id", "revision", "op", "asset_id", "class_name", "shape", "bbox"]


def _extra(pairs: tuple[str, ...]) -> dict:
    """``-o key=value`` format options; true/false and numbers are typed."""
    out: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"format option '{pair}' is not KEY=VALUE", field="-o")
        low = value.lower()
        if low in ("true", "false"):
            out[key] = low == "true"
            continue
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


format_options = click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="A format-specific option, e.g. -o split=val (coco), -o conf=false (yolo), "
    "-o voc_coords=continuous (voc), -o images=copy (yolo export). Repeatable.",
)


@main.command("import")
@click.argument("format_name", metavar="FORMAT", type=click.Choice(FORMAT_NAMES))
@click.argument("path", type=click.Path())
@click.option("--annotator", default=None, help="Annotator id where the file has none.")
@click.option("--guideline", default=None, help="Guideline version where the file has none.")
@click.option(
    "--source",
    type=click.Choice(["human", "model", "assisted"]),
    default=None,
    help="Source where the file has none (default human).",
)
@click.option("--model-version", default=None, help="Model version where the file has none.")
@click.option(
    "--mode",
    type=click.Choice(["snapshot", "patch"]),
    default=None,
    help="snapshot: labels missing from the imported images are deleted; patch: kept. "
    "Default: snapshot, but patch for a native file that names label ids or has delete "
    "lines (a patch by its nature).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Stage nothing: print the label events the import would stage.",
)
@click.option(
    "--match",
    type=click.Choice(["auto", "ids", "iou"]),
    default="auto",
    show_default=True,
    help="How labels are matched to existing ones (auto: ids when the format has stable ids).",
)
@click.option(
    "--iou-threshold",
    type=float,
    default=0.5,
    show_default=True,
    help="Minimum IoU for an IoU match.",
)
@click.option(
    "--strict/--lenient",
    default=True,
    show_default=True,
    help="strict: refuse the file on the first bad record; lenient: skip and report.",
)
@click.option(
    "--map-annotators",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV of tool user id or email -> annotator id.",
)
@click.option(
    "--sizes",
    type=click.Path(),
    default=None,
    help="YOLO: image sizes file (CSV image,width,height).",
)
@click.option(
    "--images",
    type=click.Path(),
    default=None,
    help="Folder of the images, when not beside the labels.",
)
@click.option(
    "--skipped-report",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where --lenient writes the skipped records (default: .lineage/skipped-<txn>.json).",
)
@click.option("-m", "--message", "msg", default=None, help="Transaction message.")
@format_options
@format_option()
@click.pass_context
def import_cmd(
    ctx,
    format_name,
    path,
    annotator,
    guideline,
    source,
    model_version,
    mode,
    match,
    iou_threshold,
    strict,
    map_annotators,
    sizes,
    images,
    skipped_report,
    msg,
    options,
    dry_run,
    fmt,
):
    """Stage the labels of an export (COCO, YOLO, Pascal VOC, Label Studio, CVAT, native).

    Edited labels become new revisions of the same label (by id where the format has
    stable ids, else by IoU); an unchanged re-import stages nothing.

    In snapshot mode, labels of the imported images that the file no longer holds are
    deleted; the import says how many, on how many images. --dry-run shows the label
    events it would stage (--format table|json|csv) and stages nothing.

    \b
    Example:
      lineage import coco instances_val.json --guideline v1 --annotator vendor-a
      lineage import yolo data.yaml --sizes sizes.csv --mode patch
      lineage import coco instances_val.json --dry-run --format csv
    """
    repo = open_repo(ctx)
    with working("reading") as tick:
        result = repo.import_(
            format_name,
            path,
            annotator=annotator,
            guideline=guideline,
            source=source,
            model_version=model_version,
            mode=mode,
            match=match,
            iou_threshold=iou_threshold,
            strict=strict,
            annotator_map=map_annotators,
            sizes=sizes,
            images=images,
            message=msg,
            progress=tick,
            extra=_extra(options),
            dry_run=dry_run,
        )
    show_notes(repo)
    if result.events is not None:
        render(result.events.select(DRY_RUN_COLUMNS), fmt, title="would stage")
    for note in result.notes:
        message(f"Note: {note}")
    if result.skipped:
        report = (
            Path(skipped_report)
            if skipped_report
            else repo.layout.work / f"skipped-{result.txn_id or 'none'}.json"
        )
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps([s.__dict__ for s in result.skipped], indent=1))
        for s in result.skipped[:20]:
            where = ", ".join(x for x in (s.file, s.record, s.field and f"field '{s.field}'") if x)
            message(f"Skipped: {where}: {s.reason}")
        more = len(result.skipped) - 20
        message(
            f"{len(result.skipped)} record(s) skipped{f' ({more} more)' if more > 0 else ''}; report: {report}"
        )
    if result.deleted:
        message(
            f"Note: {result.mode} mode: {result.deleted} label(s) on {result.deleted_assets} "
            "image(s) are not in the file and "
            + ("would be" if dry_run else "are")
            + " deleted (--mode patch keeps them; --dry-run shows them)"
        )
    if result.txn_id or dry_run:
        message(
            f"{'Would stage' if dry_run else 'Staged ' + result.txn_id}: {result.created} "
            f"created, {result.updated} updated, {result.deleted} deleted, "
            f"{result.unchanged} unchanged"
        )


@main.command("export")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(FORMAT_NAMES[1:]))
@click.argument("out", type=click.Path())
@rev_option
@click.option(
    "--pseudonymize", is_flag=True, help="Replace annotator and reviewer ids by keyed hashes."
)
@click.option(
    "--pseudonym-key-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Key for --pseudonymize (default: $LINEAGE_PSEUDONYM_KEY).",
)
@format_options
@click.pass_context
def export_cmd(ctx, fmt, out, rev, pseudonymize, pseudonym_key_file, options):
    """Write exactly the labels of a revision in a format its tools read.

    \b
    Example:
      lineage export coco out/ --rev v1
      lineage export yolo yolo-out/ --rev v2
    """
    from lineage.formats.pseudonym import load_key

    key = (
        load_key(Path(pseudonym_key_file) if pseudonym_key_file else None) if pseudonymize else None
    )
    with working(f"exporting {fmt}"):
        result = open_repo(ctx).export(
            fmt, out, rev=rev, pseudonymize_key=key, extra=_extra(options)
        )
    for note in result.notes:
        message(f"Note: {note}")
    message(
        f"Exported {result.labels} label(s) to {', '.join(str(f) for f in result.files[:3])}"
        + (" ..." if len(result.files) > 3 else "")
    )
