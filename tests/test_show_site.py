"""The review site (``lineage show``), opened from disk in a real headless Chromium.

The store under test has every shape the pages draw (box, rotated box, polygon,
polyline, points, keypoints with a COCO skeleton, mask), a real PNG for one image and
a URL that must never be fetched for another, and a class name that is an HTML
injection. What the pages show is checked against the CLI's own answers
(``lineage diff --format json``, ``lineage history --format json``) and pycocotools.
"""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import sync_playwright
from pycocotools import mask as mask_utils

from lineage.cli import main
from lineage.errors import InputError
from lineage.repo import Repo
from lineage.show.site import images, shapes, writer
from tests.browser import Chromium
from tests.conftest import make_git, write_jsonl

EVIL = "<img src=x onerror=alert(1)>"
MASK_V1 = np.zeros((100, 200), dtype=np.uint8)
MASK_V1[40:60, 140:180] = 1
MASK_V2 = np.zeros((100, 200), dtype=np.uint8)
MASK_V2[42:64, 138:182] = 1


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def _label(lid: str, asset: str, cls: str, **geom) -> dict:
    return {"label_id": lid, "asset_id": asset, "class_name": cls, "annotator_id": "alice",
            "source": "human", "created_at": "2026-10-01T09:00:00Z", **geom}  # fmt: skip


V1 = [
    {"record": "asset", "asset_id": "a.png", "uri": "images/a.png", "width": 200, "height": 100},
    {
        "record": "asset",
        "asset_id": "b.jpg",
        "uri": "http://example.invalid/b.jpg",
        "width": 64,
        "height": 48,
    },  # fmt: skip
    _label("l1", "a.png", "car", bbox=[10, 10, 50, 30]),
    _label("l2", "a.png", "car", bbox=[100, 20, 40, 20], rotation=30),
    _label("l3", "a.png", "road", polygon=[[0, 90, 200, 90, 200, 100, 0, 100]]),
    _label("l4", "a.png", "lane", shape="polyline", polygon=[[10, 50, 60, 55, 120, 60]]),
    _label("l5", "a.png", "pts", shape="points", polygon=[[5, 5, 15, 5, 25, 6]]),
    _label("l6", "a.png", "person", mask_rle=_rle(MASK_V1)),
    _label("l7", "b.jpg", "bike", bbox=[1, 2, 30, 20]),
]
V2 = [
    {**_label("l1", "a.png", "car", bbox=[12, 11, 50, 30]), "annotator_id": "bob"},
    _label("l2", "a.png", "bike", bbox=[100, 20, 40, 20], rotation=30),
    _label("l6", "a.png", "person", mask_rle=_rle(MASK_V2)),
    {"label_id": "l7", "op": "delete", "asset_id": "b.jpg"},
    _label("l8", "b.jpg", EVIL, bbox=[20, 10, 10, 10]),
]
COCO = {
    "images": [{"id": 1, "file_name": "k.png", "width": 120, "height": 90}],
    "categories": [
        {
            "id": 1,
            "name": "person",
            "keypoints": ["head", "hip", "foot"],
            "skeleton": [[1, 2], [2, 3]],
        }
    ],  # fmt: skip
    "annotations": [
        {
            "id": 5,
            "image_id": 1,
            "category_id": 1,
            "bbox": [30, 10, 40, 70],
            "area": 2800,
            "iscrowd": 0,
            "num_keypoints": 3,
            "keypoints": [50, 12, 2, 50, 45, 2, 52, 78, 1],
        }
    ],  # fmt: skip
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site") / "repo"
    make_git(root)
    repo = Repo.init(root)
    repo.add_guideline("v1", classes=["car", "bike", "road", "lane", "pts", "person", EVIL])
    (root / "images").mkdir()
    Image.new("RGB", (200, 100), (90, 120, 150)).save(root / "images" / "a.png")
    data = root.parent
    repo.import_("native", write_jsonl(data / "v1.jsonl", V1), guideline="v1")
    (data / "k.json").write_text(json.dumps(COCO))
    repo.import_("coco", data / "k.json", guideline="v1", annotator="carol")
    repo.commit("v1", tag="v1")
    repo.import_("native", write_jsonl(data / "v2.jsonl", V2), guideline="v1")
    repo.add_review("l1", pass_=1, reviewer="erin", verdict="accept",
                    reviewed_at="2026-11-02T10:00:00+00:00")  # fmt: skip
    repo.commit("v2", tag="v2")
    return root


def _cli(root: Path, *args: str) -> str:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["-C", str(root), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def site(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "review"
    _cli(store, "show", "diff", "v1", "v2", "--out", str(out), "--format", "json")
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = Chromium(tmp_path_factory.mktemp("chromium-profile"))
    chromium.start()
    try:
        with sync_playwright() as pw:
            b = pw.chromium.connect_over_cdp(chromium.endpoint)
            yield b
            b.close()
    finally:
        chromium.stop()


@pytest.fixture
def page(browser):
    """A fresh page that records every request and refuses any that is not a local file."""
    context = browser.new_context()
    pg = context.new_page()
    pg.requests = []
    pg.errors = []
    pg.dialogs = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    context.close()


def _asset_page(site: Path, asset_id: str) -> str:
    return (site / f"assets/{writer.slug(asset_id)}.html").as_uri()


def _only_local(pg) -> None:
    remote = [u for u in pg.requests if not u.startswith(("file://", "data:"))]
    assert remote == [], remote
    assert pg.errors == []


# ------------------------------------------------------------------ in the browser


def test_index_counts_equal_the_diff(store, site, page):
    expected = json.loads(_cli(store, "diff", "v1", "v2", "--format", "json"))["summary"]
    page.goto((site / "index.html").as_uri())
    page.wait_for_selector("#asset-list li")
    assert int(page.text_content('[data-count="labels"]')) == expected["labels"]
    shown = {
        row.get_attribute("data-kind"): int(row.query_selector("td").text_content())
        for row in page.query_selector_all("#kinds tr[data-kind]")
    }
    assert shown == expected["kinds"]
    classes = {
        row.get_attribute("data-class"): int(row.query_selector("td").text_content())
        for row in page.query_selector_all("#classes tr[data-class]")
    }
    assert classes == expected["classes"]
    annotators = {
        row.get_attribute("data-annotator"): int(row.query_selector("td").text_content())
        for row in page.query_selector_all("#annotators tr[data-annotator]")
    }
    assert annotators == expected["annotators"]
    items = page.query_selector_all("#asset-list li")
    per_asset = {
        li.get_attribute("data-asset"): int(li.get_attribute("data-labels")) for li in items
    }
    assert per_asset == expected["assets"]
    _only_local(page)


def test_index_filters_by_kind(store, site, page):
    changes = json.loads(_cli(store, "diff", "v1", "v2", "--format", "json"))["changes"]
    page.goto((site / "index.html").as_uri())
    page.select_option('select[name="kind"]', "removed")
    removed = [c for c in changes if "removed" in c["kinds"]]
    items = page.query_selector_all("#asset-list li")
    assert [li.get_attribute("data-asset") for li in items] == sorted(
        {c["asset_id"] for c in removed}
    )
    assert sum(int(li.get_attribute("data-labels")) for li in items) == len(removed)
    assert "kind=removed" in page.url


def test_asset_page_draws_each_shape_where_the_store_has_it(store, site, page):
    changes = {
        c["label_id"]: c
        for c in json.loads(_cli(store, "diff", "v1", "v2", "--format", "json"))["changes"]
    }
    page.goto(_asset_page(site, "a.png"))
    svg = page.query_selector("svg#canvas")
    assert svg.get_attribute("viewBox") == "0 0 200 100"

    def shapes_of(label: str, side: str, cls: str):
        return page.query_selector_all(f'g[data-label="{label}"][data-side="{side}"] .{cls}')

    # l1 moved a little (geometry): dashed at A, solid at B, both at the diff's boxes
    for side, key in (("a", "before"), ("b", "after")):
        (rect,) = shapes_of("l1", side, "shape-box")
        box = changes["l1"][key]["bbox"]
        got = [float(rect.get_attribute(k)) for k in ("x", "y", "width", "height")]
        assert got == [box["x"], box["y"], box["w"], box["h"]]
        g = page.query_selector(f'g[data-label="l1"][data-side="{side}"]')
        assert g.get_attribute("data-kind") == "geometry"
    dash = page.eval_on_selector(
        'g[data-label="l1"][data-side="a"] rect', "e => getComputedStyle(e).strokeDasharray"
    )
    assert dash not in ("none", "")
    solid = page.eval_on_selector(
        'g[data-label="l1"][data-side="b"] rect', "e => getComputedStyle(e).strokeDasharray"
    )
    assert solid == "none"
    # rotated box: turned about its top-left corner
    (rot,) = shapes_of("l2", "b", "shape-rotated-box")
    assert rot.get_attribute("transform") == "rotate(30 100 20)"
    assert page.get_attribute('g[data-label="l2"][data-side="b"]', "data-kind") == "class"
    # unchanged labels are drawn at both sides, grey
    (poly,) = shapes_of("l3", "b", "shape-polygon")
    assert poly.get_attribute("points") == "0,90 200,90 200,100 0,100"
    assert page.get_attribute('g[data-label="l3"][data-side="b"]', "data-kind") == "unchanged"
    (line,) = shapes_of("l4", "b", "shape-polyline")
    assert line.get_attribute("points") == "10,50 60,55 120,60"
    points = shapes_of("l5", "b", "shape-point")
    assert [(p.get_attribute("cx"), p.get_attribute("cy")) for p in points] == [
        ("5", "5"), ("15", "5"), ("25", "6"),
    ]  # fmt: skip
    # the image was found and copied in: drawn under the labels, loaded from the site
    href = page.get_attribute("svg#canvas image.photo", "href")
    assert href.startswith("../images/") and href.endswith(".png")
    assert (site / href[3:]).is_file()
    # counts: what the page draws per kind of shape, one element per shape
    assert len(page.query_selector_all('g[data-side="b"] .shape-box')) == 1
    assert len(page.query_selector_all('g[data-side="a"] .shape-box')) == 1
    assert len(page.query_selector_all("g .shape-mask")) == 2
    _only_local(page)


def test_mask_overlay_is_the_stored_mask(site, page):
    """The mask PNG a page carries decodes to exactly the mask pycocotools decodes."""
    page.goto(_asset_page(site, "a.png"))
    for side, expected in (("a", MASK_V1), ("b", MASK_V2)):
        uri = page.get_attribute(f'g[data-label="l6"][data-side="{side}"] mask image', "href")
        png = base64.b64decode(uri.split(",", 1)[1])
        got = (np.asarray(Image.open(io.BytesIO(png))) > 0).astype(np.uint8)
        oracle = mask_utils.decode(mask_utils.encode(np.asfortranarray(expected)))
        assert np.array_equal(got, oracle)
    assert page.get_attribute('g[data-label="l6"][data-side="b"]', "data-kind") == "geometry"


def test_keypoints_and_skeleton(store, tmp_path, page):
    out = tmp_path / "k"
    _cli(store, "show", "asset", "k.png", "--rev", "v2", "--out", str(out))
    page.goto(_asset_page(out, "k.png"))
    pts = page.query_selector_all("g.label .shape-keypoint")
    assert [(p.get_attribute("cx"), p.get_attribute("cy")) for p in pts] == [
        ("50", "12"), ("50", "45"), ("52", "78"),
    ]  # fmt: skip
    assert "hidden-point" in pts[2].get_attribute("class")  # v = 1: labelled, not visible
    edges = page.query_selector_all("g.label .shape-skeleton")
    assert [[e.get_attribute(k) for k in ("x1", "y1", "x2", "y2")] for e in edges] == [
        ["50", "12", "50", "45"], ["50", "45", "52", "78"],
    ]  # fmt: skip
    # no image found: a blank canvas of the image's size
    assert page.query_selector("svg#canvas rect.blank") is not None
    assert page.get_attribute("svg#canvas", "viewBox") == "0 0 120 90"
    _only_local(page)


def test_click_opens_the_history_the_cli_reports(store, site, page):
    history = json.loads(_cli(store, "history", "l1", "--rev", "v2", "--format", "json"))
    page.goto(_asset_page(site, "a.png"))
    assert page.is_hidden("#history")
    page.click('table#labels tr[data-label="l1"]')
    assert page.is_visible("#history")
    assert page.text_content("#history-label") == "l1"
    rows = page.query_selector_all("#history tbody tr.revision")
    assert [int(r.get_attribute("data-revision")) for r in rows] == [h["revision"] for h in history]
    assert [r.query_selector_all("td")[1].text_content() for r in rows] == [
        " · ".join(filter(None, [h["version"], h["branch"]])) for h in history
    ]
    reviews = page.query_selector_all("#history tbody tr.review")
    assert len(reviews) == sum(len(h["reviews"]) for h in history) == 1
    assert "erin" in reviews[0].text_content() and "accept" in reviews[0].text_content()
    # a click on the shape itself opens the same history
    page.click('table#labels tr[data-label="l3"]')
    page.dispatch_event('g[data-label="l1"][data-side="b"]', "click")
    assert page.text_content("#history-label") == "l1"


def test_arrow_keys_step_between_assets(site, page):
    page.goto(_asset_page(site, "a.png"))
    nxt = page.get_attribute("#next", "href")
    page.keyboard.press("ArrowRight")
    page.wait_for_url(re.compile(re.escape(Path(nxt).name)))
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(re.compile(re.escape(writer.slug("a.png"))))


def test_hostile_class_name_is_text(site, page):
    page.goto(_asset_page(site, "b.jpg"))
    assert page.query_selector("img") is None  # the class name made no element
    cell = page.query_selector('table#labels tr[data-label="l8"] td:nth-child(3)')
    assert cell.text_content() == EVIL
    page.click('table#labels tr[data-label="l8"]')
    assert EVIL in page.text_content("#history tbody")
    page.goto((site / "index.html").as_uri())
    assert page.query_selector('#classes tr th:text-is("' + EVIL.replace('"', '\\"') + '")')
    assert page.dialogs == []
    # b.jpg's uri is a URL: never requested, drawn on a blank canvas
    page.goto(_asset_page(site, "b.jpg"))
    assert page.query_selector("svg#canvas rect.blank") is not None
    _only_local(page)


def test_label_page_draws_every_revision_with_history_open(store, tmp_path, page):
    out = tmp_path / "l"
    _cli(store, "show", "label", "l1", "--out", str(out))
    page.goto((out / f"labels/{writer.slug('l1')}.html").as_uri())
    assert page.is_visible("#history")
    assert len(page.query_selector_all("#history tbody tr.revision")) == 2
    assert len(page.query_selector_all('g[data-label="l1"] .shape-box')) == 2
    _only_local(page)


def test_index_pages_through_many_assets(store, tmp_path, page, monkeypatch):
    from lineage import show

    monkeypatch.setattr(show.site, "PAGE_SIZE", 1)
    out = tmp_path / "paged"
    Repo.open(store).show_diff("v1", "v2", out)
    page.goto((out / "index.html").as_uri())
    first = page.get_attribute("#asset-list li", "data-asset")
    buttons = page.query_selector_all("#pager-top button")
    assert len(buttons) >= 3  # pages 1, 2, 3 and next
    page.click('#pager-top button[data-page="2"]')
    assert page.get_attribute("#asset-list li", "data-asset") != first
    assert len(page.query_selector_all("#asset-list li")) == 1


def test_audit_html_links_examples_to_their_pages(store, tmp_path, page):
    report = tmp_path / "audit.html"
    from click.testing import CliRunner

    result = CliRunner().invoke(
        main,
        [
            "-C",
            str(store),
            "audit",
            "--rev",
            "v2",
            "--format",
            "html",
            "-o",
            str(report),
            "--site",
            str(tmp_path / "pages"),
        ],  # fmt: skip
    )
    assert result.exit_code in (0, 1), result.output
    page.goto(report.as_uri())
    links = page.query_selector_all(".finding a[href]")
    assert links
    href = links[0].get_attribute("href")
    example = links[0].text_content()
    page.click(".finding a[href] >> nth=0")
    assert page.url.endswith(href.split("/")[-1])
    assert example in page.text_content("h1")


# ------------------------------------------------------------------ without a browser


class _Handlers(HTMLParser):
    """Collects attribute names of every element that look like event handlers."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.found += [(tag, name) for name, _ in attrs if name.lower().startswith("on")]


def test_pages_escape_and_allow_nothing_remote(site):
    for html in [p.read_text() for p in site.rglob("*.html")]:
        assert "default-src 'none'" in html
        assert EVIL not in html
        parser = _Handlers()
        parser.feed(html)
        assert parser.found == []  # no inline event handlers
        assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_out_folder_is_never_someone_elses(store, tmp_path, monkeypatch):
    repo = Repo.open(store)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="other files"):
        repo.show_diff("v1", "v2", mine)
    assert (mine / "notes.txt").read_text() == "keep me"
    # a site we wrote is replaced whole
    site = tmp_path / "site"
    repo.show_diff("v1", "v2", site)
    (site / "assets" / "stale.html").write_text("old")
    repo.show_diff("v1", "v2", site, kinds=["removed"])
    assert not (site / "assets" / "stale.html").exists()
    assert len(list((site / "assets").iterdir())) == 1
    assert not list(tmp_path.glob(".site.*"))  # no build folder left behind
    # the folder the command runs in, given as "."
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    repo.show_diff("v1", "v2", ".")
    assert (here / "index.html").is_file() and (here / ".lineage-site").is_file()
    repo.show_diff("v1", "v2", ".")  # and again, replacing itself
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_show_errors_are_clean(store, tmp_path):
    from click.testing import CliRunner

    runner = CliRunner()
    for args, needle in (
        (["show", "diff", "v1", "v2", "--kind", "bogus"], "unknown kind of change 'bogus'"),
        (["show", "asset", "nope.png"], "no asset 'nope.png'"),
        (["show", "label", "nope"], "no label 'nope'"),
        (["show", "diff", "v1", "nope"], "nope"),
    ):
        result = runner.invoke(main, ["-C", str(store), *args, "--out", str(tmp_path / "x")])
        assert result.exit_code == 2, result.output
        assert needle in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_images_never_come_from_outside_the_allowed_folders(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret)
    (root / "link.png").symlink_to(secret)
    (root / "fake.png").write_text("not an image")
    Image.new("RGB", (4, 4)).save(root / "real.jpg", "JPEG")
    assert images.find_image("x", str(secret), [root]) is None  # absolute, outside
    assert images.find_image("x", "../secret.png", [root]) is None
    assert images.find_image("link.png", None, [root]) is None  # symlink out
    assert images.find_image("fake.png", None, [root]) is None  # not an image
    assert images.find_image("x", "http://example.invalid/real.jpg", [root]) is None
    found = images.find_image("sub/real.jpg", None, [root])  # by file name
    assert found == (root / "real.jpg", ".jpg")


def test_slugs_are_safe_and_distinct():
    names = ["a/b.jpg", "a_b.jpg", "../../etc/passwd", "x" * 300, "", "ünï cödé.png"]
    slugs = [writer.slug(n) for n in names]
    assert len(set(slugs)) == len(names)
    for s in slugs:
        assert re.fullmatch(r"[A-Za-z0-9._-]+", s) and not s.startswith(".")
        assert len(s) < 80


def test_shapes_of_each_kind():
    box = shapes.elements({"shape": "box", "bbox": {"x": 1, "y": 2, "w": 3.5, "h": 4}}, {}, "m")
    assert box == [{"tag": "rect", "cls": "shape-box",
                    "attrs": {"x": "1", "y": "2", "width": "3.5", "height": "4"}}]  # fmt: skip
    assert shapes.elements({"shape": "classification", "bbox": None}, {}, "m") == []
    kp = shapes.elements(
        {"shape": "keypoints", "keypoints": [0, 0, 0, 1, 1, 2, 2, 2, 2], "class_name": "p"},
        {"p": [[1, 2], [2, 3]]},
        "m",
    )
    # the unlabelled first point draws nothing, nor its edge
    assert [e["cls"] for e in kp] == ["shape-skeleton", "shape-keypoint", "shape-keypoint"]


def test_reverse_diff_takes_histories_b_lacks_from_a(store, tmp_path):
    """v2 -> v1: l8 exists only at A (v2), so B's history has no row of it; its page
    still carries its history, read from A."""
    out = tmp_path / "reverse"
    summary = json.loads(_cli(store, "diff", "v2", "v1", "--format", "json"))["summary"]
    Repo.open(store).show_diff("v2", "v1", out)
    html = (out / f"assets/{writer.slug('b.jpg')}.html").read_text()
    block = re.search(r'<script type="application/json" id="histories">(.*?)</script>', html, re.S)
    histories = json.loads(block.group(1))
    assert [r["revision"] for r in histories["l8"]] == [1]
    assert histories["l8"][0]["class_name"] == EVIL  # escaped in the page, intact as JSON
    assert [r["op"] for r in histories["l7"]] == ["create"]  # B (v1) knows l7 up to v1
    assert summary["kinds"]["added"] == 1 and summary["kinds"]["removed"] == 1
