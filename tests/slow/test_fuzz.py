"""Hostile and malformed input, fuzzed with hypothesis, for every importer.

Each case writes one file (random bytes, a truncated or byte-flipped real export, a
real export with one value replaced by something hostile, deeply nested JSON or XML,
non-UTF-8 text, XML entity bombs and external entities) and reads it. The only
acceptable outcomes are success or an InputError; never another exception, never a
hang (an alarm stops a read after HANG_S seconds). Through the Repo and the CLI, an
error exits 2 without a traceback and stages nothing.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage import formats
from lineage.errors import InputError
from lineage.formats.base import ImportOptions
from lineage.repo import Repo
from lineage.store import staging
from tests.conftest import make_git

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent.parent / "fixtures"
HANG_S = 10
FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)

NATIVE = "\n".join(
    json.dumps(r)
    for r in [
        {"asset_id": "a.jpg", "class_name": "car", "bbox": [1, 2, 30, 40], "annotator_id": "x"},
        {"asset_id": "a.jpg", "class_name": "person", "polygon": [[0, 0, 10, 0, 10, 10]]},
        {"asset_id": "b.jpg", "class_name": "car", "keypoints": [1, 2, 2, 5, 5, 1]},
        {"record": "asset", "asset_id": "a.jpg", "width": 640, "height": 480},
    ]
).encode()


class Hang(Exception):
    pass


@contextmanager
def alarm(seconds: int):
    def fire(*_):
        raise Hang(f"read took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------ one case per format


def case_file(fmt: str, tmp: Path, data: bytes) -> tuple[Path, ImportOptions]:
    """Write ``data`` where format ``fmt`` reads its main file; returns (path, options)."""
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if fmt == "yolo":
        root = tmp / "ds"
        shutil.copytree(FIXTURES / "yolo" / "sizes", root)
        (root / "labels" / "train" / "s1.txt").write_bytes(data)
        return root / "data.yaml", ImportOptions(sizes=root / "sizes.csv")
    if fmt == "yolo-yaml":
        root = tmp / "ds"
        shutil.copytree(FIXTURES / "yolo" / "sizes", root)
        (root / "data.yaml").write_bytes(data)
        return root / "data.yaml", ImportOptions(sizes=root / "sizes.csv")
    name = {
        "native": "labels.jsonl",
        "coco": "instances.json",
        "labelstudio": "export.json",
        "voc": "a.xml",
        "cvat": "annotations.xml",
    }[fmt]
    path = tmp / name
    path.write_bytes(data)
    return path, ImportOptions()


SEEDS = {
    "native": NATIVE,
    "coco": (FIXTURES / "coco" / "instances.json").read_bytes(),
    "labelstudio": (FIXTURES / "labelstudio" / "export.json").read_bytes(),
    "voc": (FIXTURES / "voc" / "labelimg" / "cat_sofa.xml").read_bytes(),
    "cvat": (FIXTURES / "cvat" / "job.xml").read_bytes(),
    "yolo": (FIXTURES / "yolo" / "sizes" / "labels" / "train" / "s1.txt").read_bytes(),
    "yolo-yaml": (FIXTURES / "yolo" / "sizes" / "data.yaml").read_bytes(),
}
READER = {k: k.split("-")[0] for k in SEEDS}
JSON_FORMATS = ("coco", "labelstudio")


def outcome(fmt: str, tmp: Path, data: bytes) -> str:
    """Read ``data`` as ``fmt``: 'ok' or 'InputError'; anything else fails the test."""
    path, options = case_file(fmt, tmp, data)
    try:
        with alarm(HANG_S):
            formats.get(READER[fmt]).read(path, options)
        return "ok"
    except InputError as exc:
        assert exc.file is not None, f"{fmt}: the error does not name the file: {exc}"
        return "InputError"
    except Hang:
        pytest.fail(f"{fmt} reader hung on {data[:200]!r}")
    except Exception as exc:  # noqa: BLE001 - exactly what this test looks for
        where = [
            f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno}"
            for f in traceback.extract_tb(exc.__traceback__)
            if "/lineage/" in f.filename
        ]
        pytest.fail(f"{fmt} reader raised {type(exc).__name__}: {exc} at {where} on {data[:300]!r}")


# ------------------------------------------------------------------ strategies

HOSTILE_VALUES = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        1e308 * 10,
        10**40,
        -(10**40),
        -1,
        0,
        2**63,
        "",
        "\x00",
        "../../etc/passwd",
        "\udcff",
        None,
        True,
        [],
        {},
        [[[[[[[[[[1]]]]]]]]]],
        {"a": {"b": {"c": {}}}},
        "x" * 10_000,
    ]
)


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
    yield path


def _replace(obj, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {**obj, head: _replace(obj[head], rest, value)}
    out = list(obj)
    out[head] = _replace(obj[head], rest, value)
    return out


def json_dump(obj) -> bytes:
    return json.dumps(obj, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def json_mutation(draw, seed: bytes) -> bytes:
    """The seed JSON with one value (at any depth) replaced by a hostile one."""
    doc = json.loads(seed)
    paths = list(_leaves(doc))
    path = draw(st.sampled_from(paths))
    return json_dump(_replace(doc, path, draw(HOSTILE_VALUES)))


@st.composite
def jsonl_mutation(draw) -> bytes:
    lines = [json.loads(ln) for ln in NATIVE.splitlines()]
    i = draw(st.integers(0, len(lines) - 1))
    path = draw(st.sampled_from(list(_leaves(lines[i]))))
    lines[i] = _replace(lines[i], path, draw(HOSTILE_VALUES))
    return b"\n".join(json_dump(x) for x in lines)


@st.composite
def truncated(draw, seed: bytes) -> bytes:
    return seed[: draw(st.integers(0, len(seed) - 1))]


@st.composite
def flipped(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    return bytes(data)


@st.composite
def non_utf8(draw, seed: bytes) -> bytes:
    i = draw(st.integers(0, len(seed)))
    junk = draw(st.sampled_from([b"\xff\xfe", b"\xc3\x28", b"\xe2\x82", b"\x80", b"\xed\xa0\x80"]))
    return seed[:i] + junk + seed[i:]


JSON_ANY = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_xml(depth: int, root: str) -> bytes:
    return f"<{root}>".encode() + b"<a>" * depth + b"</a>" * depth + f"</{root}>".encode()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ROOT><filename>&lol9;</filename></ROOT>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<ROOT><filename>&xxe;</filename><name>&xxe;</name></ROOT>"""

XXE_PARAM = b"""<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY % ext SYSTEM "http://127.0.0.1:9/evil.dtd"> %ext; ]>
<ROOT/>"""


def xml_attacks(root: str) -> list[bytes]:
    r = root.encode()
    return [
        BILLION_LAUGHS.replace(b"ROOT", r),
        XXE.replace(b"ROOT", r),
        XXE_PARAM.replace(b"ROOT", r),
        deep_xml(100_000, root),
        b'<?xml version="1.0" encoding="latin-1"?><' + r + b"><x>\xff\xfe</x></" + r + b">",
        b"<" + r + b">\xff\xfe\xfd</" + r + b">",
    ]


# ------------------------------------------------------------------ the fuzz tests

FMTS = list(SEEDS)


@pytest.mark.parametrize("fmt", FMTS)
@FUZZ
@given(data=st.binary(max_size=2048))
def test_random_bytes(tmp_path, fmt, data):
    assert outcome(fmt, tmp_path / "case", data) in ("ok", "InputError")


@pytest.mark.parametrize("fmt", FMTS)
@FUZZ
@given(data=st.data())
def test_truncated_flipped_and_non_utf8(tmp_path, fmt, data):
    seed = SEEDS[fmt]
    case = data.draw(st.one_of(truncated(seed), flipped(seed), non_utf8(seed)))
    assert outcome(fmt, tmp_path / "case", case) in ("ok", "InputError")


@pytest.mark.parametrize("fmt", [*JSON_FORMATS, "native"])
@FUZZ
@given(data=st.data())
def test_one_hostile_value(tmp_path, fmt, data):
    """Huge numbers, NaN / inf coordinates, wrong types, deep nesting at any field."""
    case = data.draw(jsonl_mutation() if fmt == "native" else json_mutation(SEEDS[fmt]))
    assert outcome(fmt, tmp_path / "case", case) in ("ok", "InputError")


@pytest.mark.parametrize("fmt", [*JSON_FORMATS, "native"])
@FUZZ
@given(doc=JSON_ANY)
def test_arbitrary_json(tmp_path, fmt, doc):
    assert outcome(fmt, tmp_path / "case", json_dump(doc)) in ("ok", "InputError")


@pytest.mark.parametrize("fmt", [*JSON_FORMATS, "native"])
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_json_nesting(tmp_path, fmt, depth):
    data = deep_json(depth)
    if fmt == "coco":
        data = b'{"images": ' + data + b', "annotations": [], "categories": []}'
    assert outcome(fmt, tmp_path / "case", data) == "InputError"


@pytest.mark.parametrize("fmt,root", [("voc", "annotation"), ("cvat", "annotations")])
@pytest.mark.parametrize("attack", range(6))
def test_xml_bombs_external_entities_deep_nesting(tmp_path, fmt, root, attack):
    data = xml_attacks(root)[attack]
    assert outcome(fmt, tmp_path / "case", data) in ("ok", "InputError")
    if attack < 3:  # entity declarations are refused outright
        assert outcome(fmt, tmp_path / "case", data) == "InputError"


@pytest.mark.parametrize("fmt", [*JSON_FORMATS, "native"])
@FUZZ
@given(value=st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308 * 10, 10**400]))
def test_nan_inf_and_huge_coordinates_are_refused(tmp_path, fmt, value):
    """A non-finite or absurd coordinate is an error, never a label."""
    if fmt == "native":
        rec = {"asset_id": "a.jpg", "class_name": "car", "bbox": [value, 2, 30, 40]}
        data = json_dump(rec)
    elif fmt == "coco":
        doc = json.loads(SEEDS["coco"])
        doc["annotations"][0]["bbox"][0] = value
        doc["annotations"][0].pop("segmentation", None)
        data = json_dump(doc)
    else:
        doc = json.loads(SEEDS["labelstudio"])
        task = doc[0]
        region = next(r for a in task["annotations"] for r in a["result"] if "x" in r["value"])
        region["value"]["x"] = value
        data = json_dump(doc)
    assert outcome(fmt, tmp_path / "case", data) == "InputError"


@pytest.mark.parametrize("field", ["width", "height"])
@pytest.mark.parametrize("value", [10**40, -(10**40), 2**63, 1e308 * 10])
def test_coco_absurd_image_sizes_are_refused(tmp_path, field, value):
    doc = json.loads(SEEDS["coco"])
    doc["images"][0][field] = value
    assert outcome("coco", tmp_path / "case", json_dump(doc)) == "InputError"


# ------------------------------------------------------------------ nothing staged, exit 2


HOSTILE_FILES = {
    "native": b'{"asset_id": "a.jpg", "class_name": "car", "bbox": [NaN, 1, 2, 3]}',
    "coco": b'{"images": [[[[[[[[[[[[]]]]]]]]]]]], "annotations": 1e999}',
    "labelstudio": b"\xff\xfe[{]",
    "voc": BILLION_LAUGHS.replace(b"ROOT", b"annotation"),
    "cvat": XXE.replace(b"ROOT", b"annotations"),
    "yolo": b"0 nan 0.5 0.2 0.2\n",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Repo:
    root = tmp_path_factory.mktemp("store") / "repo"
    make_git(root)
    repo = Repo.init(root)
    repo.add_guideline("v1", classes=["car", "person", "ship"])
    repo.commit("base")
    return repo


@pytest.mark.parametrize("fmt", list(HOSTILE_FILES))
def test_hostile_import_stages_nothing_and_exits_2(store, tmp_path, fmt):
    import subprocess

    path, options = case_file(fmt, tmp_path / "case", HOSTILE_FILES[fmt])
    with pytest.raises(InputError):
        store.import_(fmt, path, guideline="v1", sizes=options.sizes)
    assert staging.staged(store.layout.staging) == []
    assert staging.incomplete(store.layout.staging) == []
    cmd = [
        sys.executable,
        "-c",
        "from lineage.cli import main; main()",
        "-C",
        str(store.root),
        "import",
        fmt,
        str(path),
        "--guideline",
        "v1",
    ]
    if options.sizes:
        cmd += ["--sizes", str(options.sizes)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("Error: ") and "Traceback" not in res.stderr
    assert staging.staged(store.layout.staging) == []


# ------------------------------------------------------------------ through the store

STORE_FUZZ = settings(FUZZ, max_examples=40)
EXAMPLES_RUN: dict[str, int] = {}


def _through_store(store: Repo, fmt: str, tmp: Path, data: bytes, **kwargs) -> str:
    """Import ``data`` for real: 'ok' or 'InputError' naming the file; staged work is
    always whole (a transaction with its txn.json, or nothing)."""
    EXAMPLES_RUN[fmt] = EXAMPLES_RUN.get(fmt, 0) + 1
    path, options = case_file(fmt, tmp, data)
    before = {t.txn_id for t in staging.staged(store.layout.staging)}
    try:
        with alarm(HANG_S * 3):
            store.import_(READER[fmt], path, guideline="v1", sizes=options.sizes, **kwargs)
        result = "ok"
    except InputError as exc:
        assert exc.file is not None, f"{fmt}: the error does not name the file: {exc}"
        assert {t.txn_id for t in staging.staged(store.layout.staging)} == before
        result = "InputError"
    except Hang:
        pytest.fail(f"{fmt} import hung on {data[:200]!r}")
    assert staging.incomplete(store.layout.staging) == []
    for txn in staging.staged(store.layout.staging):
        if txn.txn_id not in before:
            staging.discard(txn)
    return result


@pytest.mark.parametrize("fmt", [*JSON_FORMATS, "native"])
@STORE_FUZZ
@given(data=st.data())
def test_hostile_values_through_the_store(store, tmp_path, fmt, data):
    """Every check after reading (asset ids, image sizes, shapes inside their image,
    identity, staging) as well as the reader's: success or a named InputError."""
    case = data.draw(jsonl_mutation() if fmt == "native" else json_mutation(SEEDS[fmt]))
    assert _through_store(store, fmt, tmp_path / "case", case) in ("ok", "InputError")
    lenient = _through_store(store, fmt, tmp_path / "case", case, strict=False)
    assert lenient in ("ok", "InputError")


REVIEW_SEED = (
    "label_id,pass,reviewer_id,verdict,reason,reviewed_at,guideline_version,revision,kind\n"
    "L1,1,bob,accept,,2026-01-01T00:00:00Z,v1,1,review\n"
)
CSV_CELLS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["99999999999999999999", "-1", "0", "nan", "1e400", "=HYPERLINK(1)", "label_id",
         "accept", "reject", "2026-13-45", "\u0000", "'", '"', "\r\n"]
    ),
)  # fmt: skip


@STORE_FUZZ
@given(
    rows=st.lists(st.lists(CSV_CELLS, min_size=0, max_size=10), max_size=4),
    header=st.sampled_from([0, 1, 2]),
    raw=st.binary(max_size=64),
)
def test_review_import_fuzz(store, tmp_path, rows, header, raw):
    """Random CSV cells, duplicated headers and raw bytes through ``review import``."""
    import csv
    import io

    EXAMPLES_RUN["review import"] = EXAMPLES_RUN.get("review import", 0) + 1
    buf = io.StringIO()
    writer = csv.writer(buf)
    heads = REVIEW_SEED.splitlines()[0].split(",")
    if header == 1:
        heads = heads + ["label_id"]
    writer.writerow(heads if header != 2 else heads[:3])
    for row in rows:
        writer.writerow(row)
    path = tmp_path / "reviews.csv"
    path.write_bytes(buf.getvalue().encode("utf-8", "surrogatepass") + raw)
    before = {t.txn_id for t in staging.staged(store.layout.staging)}
    try:
        store.import_reviews(path)
    except InputError as exc:
        assert exc.file is not None and str(path) in exc.message
        assert {t.txn_id for t in staging.staged(store.layout.staging)} == before
    assert staging.incomplete(store.layout.staging) == []


def test_report_examples_run():
    """Prints how many examples the store-level fuzz ran (for the issue's note); runs
    last in its module on one worker, so it sees that worker's share."""
    print(f"fuzz examples through the store on this worker: {EXAMPLES_RUN}")
