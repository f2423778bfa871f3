"""Where a site is written: a new folder filled beside the target, then moved in, so an
interrupted build leaves the previous site (or nothing) and never half of one; page
names for asset and label ids; the images copied in; HTML from the Jinja2 templates
(autoescaping on: class names, attributes and ids are untrusted input)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

import jinja2

from lineage.errors import InputError
from lineage.show.site.images import copy_image, find_image

MARKER = ".lineage-site"  # a folder holding it is a site we wrote and may replace
_STATIC = Path(__file__).with_name("static")
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(value: str) -> str:
    """A file name for any id: its safe characters (at most 60) and a hash, so two ids
    never share a page and no id reaches outside its folder."""
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:10]
    return f"{_SAFE.sub('_', value)[-60:].strip('._') or 'x'}-{digest}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lineage.show.site", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


class SiteWriter:
    """Builds a site in a temporary folder next to ``out``; ``finish`` swaps it in."""

    def __init__(self, out: str | Path, image_roots: list[Path]):
        self.out = Path(os.path.abspath(out))  # "." must name a folder with a parent
        self.image_roots = [r for r in image_roots if r.is_dir()]
        _check_target(self.out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.build = self.out.parent / f".{self.out.name}.building-{os.getpid()}"
        shutil.rmtree(self.build, ignore_errors=True)
        shutil.copytree(_STATIC, self.build / "static")
        (self.build / MARKER).write_text("written by `lineage show`; replaced on each run\n")
        self.env = _environment()
        self._images: dict[str, str | None] = {}
        self.images_found = 0
        self.pages = 0

    def asset_page(self, asset_id: str) -> str:
        return f"assets/{slug(asset_id)}.html"

    def label_page(self, label_id: str) -> str:
        return f"labels/{slug(label_id)}.html"

    def image(self, asset_id: str, uri: str | None) -> str | None:
        """The site path of the asset's image, copied in once; None when not found."""
        if asset_id not in self._images:
            found = find_image(asset_id, uri, self.image_roots)
            href = None
            if found:
                src, ext = found
                href = f"images/{slug(asset_id)}{ext}"
                copy_image(src, self.build / href)
                self.images_found += 1
            self._images[asset_id] = href
        return self._images[asset_id]

    def render(self, path: str, template: str, **context: Any) -> None:
        """Write one page; ``root`` (the way back to the site's top) is added for links."""
        depth = path.count("/")
        html = self.env.get_template(template).render(root="../" * depth, **context)
        target = self.build / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(html, encoding="utf-8")
        self.pages += 1

    def write(self, path: str, text: str) -> None:
        target = self.build / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def finish(self) -> Path:
        """Put the built site in place of the previous one. The folder itself stays (a
        shell or a web server may be inside it): its old entries move out, the new
        ones in, each by one rename."""
        if not self.out.exists():
            self.build.rename(self.out)
            return self.out
        old = self.out.parent / f".{self.out.name}.old-{os.getpid()}"
        old.mkdir()
        for entry in list(self.out.iterdir()):
            entry.rename(old / entry.name)
        for entry in list(self.build.iterdir()):
            entry.rename(self.out / entry.name)
        self.build.rmdir()
        shutil.rmtree(old, ignore_errors=True)
        return self.out

    def abandon(self) -> None:
        shutil.rmtree(self.build, ignore_errors=True)


def _check_target(out: Path) -> None:
    """Refuse to replace a file, or a folder that is not a site ``lineage show`` wrote."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise InputError("exists and is not a folder", file=out)
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise InputError(
            "is a folder with other files in it, and a site replaces its whole folder",
            file=out,
            hint="give a new or empty folder, or one an earlier `lineage show` wrote",
        )
