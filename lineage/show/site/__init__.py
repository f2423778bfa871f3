"""The review site: static HTML/SVG pages that show labels on their images.

``lineage show diff A B`` writes an index of the changed assets and a page per asset
with its labels at A (dashed) and B (solid), coloured by kind of change; a click on a
label opens its history and review passes. ``show asset`` and ``show label`` write the
same pages for one image or one label of a revision, and ``audit --site`` writes the
pages its findings' examples link to. Pages need nothing but a browser: no server, no
network (a Content-Security-Policy allows only the site's own files).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lineage.query import site as sql
from lineage.show.site import pages
from lineage.show.site.writer import SiteWriter

if TYPE_CHECKING:
    from lineage.query.diff import Diff
    from lineage.query.snapshot import Snapshot

Progress = Callable[[str, int, int | None], None]
PAGE_SIZE = 50  # assets per index page


@dataclass
class Site:
    """A written site: its folder, front page, and what it holds."""

    path: Path
    index: Path
    assets: int
    labels: int
    images_found: int
    pages: int
    links: dict[str, str]  # asset or label id -> its page, relative to the site

    def as_dict(self) -> dict[str, Any]:
        """What was written, for output (paths as text; the links are for reports)."""
        fields = asdict(self)
        del fields["links"]
        return {k: str(v) if isinstance(v, Path) else v for k, v in fields.items()}

    def links_from(self, base: Path) -> dict[str, str]:
        """The pages as URLs relative to ``base`` (the folder of a report linking them)."""
        return {
            ident: Path(os.path.relpath(self.path / href, base)).as_posix()
            for ident, href in self.links.items()
        }


def diff_site(
    diff: Diff,
    out: str | Path,
    *,
    image_roots: list[Path],
    kinds: Sequence[str] = (),
    filters: Mapping[str, Sequence[str]] | None = None,
    progress: Progress | None = None,
) -> Site:
    """Write the site of an open diff (narrowed to ``kinds`` when given) to ``out``."""
    pair = diff.pair
    sql.select_changes(pair, diff.sql, kinds)
    summary = _summary(diff)
    assets = {r["asset_id"]: r for r in pair.arrow(sql.ASSETS_SQL).to_pylist()}
    labels = pair.arrow(sql.PAIR_LABELS_SQL)
    if progress:
        progress("reading histories", 0, None)
    histories = pages.histories(sql.pair_histories(pair, labels))
    skeletons = _skeletons(pair)
    context = {
        "mode": "diff",
        "source": diff.source,
        "target": diff.target,
        "filters": {"kind": list(kinds), **(filters or {})},
    }
    writer = SiteWriter(out, image_roots)
    try:
        entries = _asset_pages(
            writer, assets, labels.to_pylist(), histories, skeletons, context, progress
        )
        order = summary["assets"]
        entries.sort(key=lambda e: (-order.get(e["id"], 0), e["id"]))
        _index(writer, entries, context, summary=summary)
        return _finish(writer, entries, labels=summary["labels"])
    except BaseException:
        writer.abandon()
        raise


def revision_site(
    snap: Snapshot,
    out: str | Path,
    *,
    image_roots: list[Path],
    asset_ids: Sequence[str] = (),
    label_ids: Sequence[str] = (),
    progress: Progress | None = None,
) -> Site:
    """Pages of one revision: each asset with its current labels (coloured by class),
    and each label with all its revisions on its image, its history open."""
    revisions = {
        lid: list(group)
        for lid, group in groupby(
            snap.arrow(sql.label_revisions_sql(label_ids)).to_pylist(), key=lambda r: r["label_id"]
        )
    }
    label_assets = {lid: revs[-1]["asset_id"] for lid, revs in revisions.items()}
    wanted = sorted(set(asset_ids) | set(label_assets.values()))
    assets = {r["asset_id"]: r for r in snap.arrow(sql.assets_sql(wanted)).to_pylist()}
    labels = snap.arrow(sql.labels_sql(list(asset_ids))).to_pylist()
    drawn_ids = sorted({r["label_id"] for r in labels} | set(label_ids))
    histories = pages.histories(sql.histories(snap, drawn_ids))
    skeletons = _skeletons(snap)
    context = {"mode": "revision", "rev": snap.rev or "work state", "commit": snap.commit}
    writer = SiteWriter(out, image_roots)
    try:
        picked = {a: assets[a] for a in asset_ids}
        entries = _asset_pages(writer, picked, labels, histories, skeletons, context, progress)
        for lid, revs in revisions.items():
            asset = assets[label_assets[lid]]
            entry = _page(
                writer,
                writer.label_page(lid),
                asset,
                revs,
                {lid: histories.get(lid, "[]")},
                skeletons,
                {**context, "label": lid},
            )
            entries.append({**entry, "id": lid, "kind": "label", "asset": asset["asset_id"]})
        _index(writer, entries, context)
        return _finish(writer, entries, labels=len(drawn_ids))
    except BaseException:
        writer.abandon()
        raise


def _summary(diff: Diff) -> dict:
    from lineage.query.diff import summary

    return summary(diff.pair.con, sql.CHANGES_SQL)


def _skeletons(snap: Snapshot) -> dict[str, list]:
    return {r["class_name"]: r["skeleton"] for r in snap.arrow(sql.SKELETONS_SQL).to_pylist()}


def _asset_pages(
    writer: SiteWriter,
    assets: dict[str, dict],
    labels: list[dict],
    histories: dict[str, str],
    skeletons: dict[str, list],
    context: dict,
    progress: Progress | None,
) -> list[dict]:
    """One page per asset (in asset order, linked to their neighbours); their index entries."""
    by_asset = {k: list(g) for k, g in groupby(labels, key=lambda r: r["asset_id"])}
    ids = sorted(assets)
    entries = []
    for i, asset_id in enumerate(ids):
        if progress and i % 200 == 0:
            progress("drawing pages", i, len(ids))
        rows = by_asset.get(asset_id, [])
        nav = {
            "prev": writer.asset_page(ids[i - 1]) if i > 0 else None,
            "next": writer.asset_page(ids[i + 1]) if i + 1 < len(ids) else None,
        }
        used = {r["label_id"]: histories.get(r["label_id"], "[]") for r in rows}
        entries.append(
            _page(
                writer,
                writer.asset_page(asset_id),
                assets[asset_id],
                rows,
                used,
                skeletons,
                {**context, **nav},
            )
        )
    return entries


def _page(
    writer: SiteWriter,
    path: str,
    asset: dict,
    labels: list[dict],
    histories: dict[str, str],
    skeletons: dict[str, list],
    context: dict,
) -> dict:
    """Write one asset (or label) page; its index entry."""
    drawn = pages.drawn(labels, skeletons, by_class=context["mode"] == "revision")
    size = pages.canvas_size(asset, drawn)
    image = writer.image(asset["asset_id"], asset.get("uri"))
    root = "../" * path.count("/")
    rows = pages.changed_rows(drawn)
    writer.render(
        path,
        "asset.html",
        page={
            **context,
            "asset": asset,
            "width": size[0],
            "height": size[1],
            "image": root + image if image else None,
            "labels": drawn,
            "rows": rows,
            "counts": pages.kind_counts(rows),
            "histories": pages.histories_json(histories),
            "kinds": pages.KINDS,
        },
    )
    return pages.index_entry(asset["asset_id"], path, image, size, rows)


def _index(
    writer: SiteWriter, entries: list[dict], context: dict, summary: dict | None = None
) -> None:
    data = {"mode": context["mode"], "pageSize": PAGE_SIZE, "kinds": pages.KINDS, "assets": entries}
    writer.write("data/index.js", "window.LINEAGE_INDEX = " + json.dumps(data) + ";\n")
    writer.render(
        "index.html",
        "index.html",
        page={**context, "summary": summary, "entries": len(entries), "kinds": pages.KINDS},
    )


def _finish(writer: SiteWriter, entries: list[dict], *, labels: int) -> Site:
    links = {e["id"]: e["href"] for e in entries}
    path = writer.finish()
    return Site(
        path=path,
        index=path / "index.html",
        assets=sum(1 for e in entries if e.get("kind") != "label"),
        labels=labels,
        images_found=writer.images_found,
        pages=writer.pages,
        links=links,
    )
