"""A cloned repository or a hostile file must never read, write or hide anything.

One test (or a few) per hole found by attacking the tool (issue 11), each built from
its reproduction. The demo repository is built once and copied for each test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import git
import pytest
from click.testing import CliRunner

from lineage.cli import main
from lineage.demo import build_demo
from lineage.repo import Repo

CANARY = "canary-5f1c0e-must-never-appear"


@pytest.fixture(scope="module")
def demo_master(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "demo"
    build_demo(root)
    return root


@pytest.fixture
def demo(demo_master, tmp_path) -> Path:
    """A private copy of the demo repository, with a canary file beside it."""
    root = tmp_path / "demo"
    shutil.copytree(demo_master, root, symlinks=True)
    shutil.rmtree(root / ".lineage" / "tmp", ignore_errors=True)
    (tmp_path / "outside.txt").write_text(CANARY)
    return root


def run(root: Path, *args: str, env: dict | None = None):
    runner = CliRunner()
    return runner.invoke(main, ["-C", str(root), *args], catch_exceptions=True, env=env)


def assert_refused(result, code: int = 2, text: str | None = None) -> None:
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert CANARY not in result.output
    if text:
        assert text in result.output


def tree(path: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(path)): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file() and ".lineage" not in p.parts
    }


def commit_all(root: Path, message: str, *force: str) -> None:
    g = git.Repo(root)
    g.git.add("-A", "--", ".")
    if force:
        g.git.add("--force", "--", *force)
    g.index.commit(message)


# ------------------------------------------------------------ 1. repository paths


@pytest.mark.parametrize("path", ["/.", "/etc", "../victim", "a/../../victim", ".dvc"])
def test_store_path_outside_the_repository_is_refused(demo, path):
    toml = demo / "lineage.toml"
    toml.write_text(toml.read_text().replace('path = "annotations"', f'path = "{path}"'))
    result = run(demo, "query", f"select content from read_text('{demo.parent}/outside.txt')")
    assert_refused(result, 2, "store.path")


def test_store_path_from_a_fresh_clone_is_refused(demo, tmp_path):
    toml = demo / "lineage.toml"
    toml.write_text(toml.read_text().replace('path = "annotations"', 'path = "/."'))
    commit_all(demo, "hostile setting")
    clone = tmp_path / "clone"
    git.Repo.clone_from(demo, clone)
    result = run(clone, "query", "select content from read_text('/etc/hostname')")
    assert_refused(result, 2, "store.path")


def test_store_path_to_a_victim_folder_writes_nothing_there(demo, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    toml = demo / "lineage.toml"
    toml.write_text(toml.read_text().replace('path = "annotations"', 'path = "../victim"'))
    labels = tmp_path / "l.jsonl"
    labels.write_text('{"asset_id": "street_000.jpg", "class_name": "car", "bbox": [1,2,3,4]}\n')
    assert_refused(run(demo, "import", "native", str(labels)), 2, "store.path")
    assert_refused(run(demo, "commit", "-m", "x"), 2, "store.path")
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert not (demo / ".lineage" / "journal.json").exists()


def test_symlinked_store_leading_out_is_refused(demo, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    toml = demo / "lineage.toml"
    toml.write_text(toml.read_text().replace('path = "annotations"', 'path = "linked"'))
    (demo / "linked").symlink_to(elsewhere)
    assert_refused(run(demo, "status"), 2, "leads outside the repository")


def test_committed_dvc_cache_dir_outside_is_refused(demo, tmp_path):
    with open(demo / ".dvc" / "config", "a") as fh:
        fh.write(f"[cache]\n    dir = {tmp_path}/stolen-cache\n")
    assert_refused(run(demo, "query", "select count(*) from labels"), 2, "cache.dir")
    assert not (tmp_path / "stolen-cache").exists()


def test_tracked_work_area_is_refused(demo):
    (demo / ".lineage" / "journal.json").write_text('{"hostile": true}')
    commit_all(demo, "ship a journal", ".lineage/journal.json")
    assert_refused(run(demo, "status"), 2, "tracked by git")


def test_yolo_data_yaml_path_outside_the_dataset_is_refused(tmp_path, demo):
    ds = tmp_path / "ds"
    ds.mkdir()
    (ds / "data.yaml").write_text("path: /etc\ntrain: .\nnames: {0: car}\n")
    result = run(demo, "import", "yolo", str(ds / "data.yaml"))
    assert_refused(result, 2, "field 'path'")
    (ds / "data.yaml").write_text(f"train: {tmp_path}\nnames: {{0: car}}\n")
    assert_refused(run(demo, "import", "yolo", str(ds / "data.yaml")), 2, "field 'train'")


def test_weakened_policy_is_named_in_every_report_header(demo, tmp_path):
    policy = tmp_path / "weak.toml"
    policy.write_text(
        "[policy]\n[policy.separation_of_duties]\nno_self_review = false\n"
        '[policy.severity]\nintegrity = "off"\n"trace.annotator" = "info"\n'
    )
    for fmt in ("text", "markdown", "html"):
        out = run(demo, "audit", "--policy", str(policy), "--format", fmt).output
        assert "severity.integrity = off (default error)" in out, fmt
        assert "severity.trace.annotator = info (default error)" in out, fmt
        assert "no_self_review = false (default true)" in out, fmt
    doc = json.loads(run(demo, "audit", "--policy", str(policy), "--format", "json").stdout)
    assert len(doc["policy"]["weakened"]) == 3
    plain = json.loads(run(demo, "audit", "--format", "json").stdout)
    assert plain["policy"]["weakened"] == []


# ------------------------------------------------------------ 2-3. the SQL sandbox


def test_cache_of_other_dvc_files_is_not_readable(demo):
    (demo / "secret.env").write_text(CANARY)
    from lineage.versioning import dvcstore

    dvcstore.add(demo, "secret.env")
    for sql in (
        "select decode(content) from read_blob('.dvc/cache/files/md5/*/*')",
        f"select decode(content) from read_blob('{demo}/.dvc/cache/files/md5/*/*')",
        f"select content from read_text('{demo}/secret.env')",
        f"select * from read_parquet('{demo}/annotations/*/*.parquet')",
    ):
        assert_refused(run(demo, "query", sql, "--format", "json"), 2, "refused")
    # exactly the revision's segment files are allowed
    snap = Repo.open(demo).at("v1")
    allowed = snap.con.sql("select current_setting('allowed_paths')").fetchall()[0][0]
    assert sorted(allowed) == sorted(str(s.path) for s in snap.files.segments)
    # DuckDB adds its temp folder: a fresh, empty one of this snapshot's own
    (temp,) = snap.con.sql("select current_setting('allowed_directories')").fetchall()[0][0]
    assert Path(temp).parent == demo / ".lineage" / "tmp"
    snap.close()


def test_temp_folder_is_private_and_not_the_working_directory(demo, tmp_path, monkeypatch):
    other = tmp_path / "other"
    (other / ".tmp").mkdir(parents=True)
    (other / ".tmp" / "s.txt").write_text(CANARY)
    monkeypatch.chdir(other)
    assert_refused(run(demo, "query", "select content from read_text('.tmp/s.txt')"), 2)
    snap = Repo.open(demo).at(None)
    temp = Path(snap.con.sql("select current_setting('temp_directory')").fetchall()[0][0])
    assert temp.parent == demo / ".lineage" / "tmp" and list(temp.iterdir()) == []
    snap.close()
    assert not temp.exists()


def test_memory_limit_is_set_and_configurable(demo):
    env = {"LINEAGE_MEMORY_LIMIT": "1GB"}
    out = run(
        demo, "query", "select current_setting('memory_limit') m", "--format", "json", env=env
    )
    assert json.loads(out.output)[0]["m"] in ("953.6 MiB", "1000.0 MB", "1.0 GB", "1.0 GiB")
    bad = run(demo, "query", "select 1", env={"LINEAGE_MEMORY_LIMIT": "lots"})
    assert_refused(bad, 2, "LINEAGE_MEMORY_LIMIT")


# ------------------------------------------------------------ 4. edited manifests


def _manifest_path(root: Path) -> Path:
    import yaml

    md5 = yaml.safe_load((root / "annotations.dvc").read_text())["outs"][0]["md5"]
    return root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def test_edited_manifest_is_an_integrity_error(demo):
    before = run(demo, "query", "select count(*) n from reviews", "--format", "json")
    assert json.loads(before.output)[0]["n"] > 0
    path = _manifest_path(demo)
    entries = [e for e in json.loads(path.read_text()) if not e["relpath"].startswith("reviews/")]
    path.chmod(0o644)
    path.write_text(json.dumps(entries))
    for args in (("query", "select count(*) from labels"), ("log",), ("history", "x")):
        assert_refused(run(demo, *args), 1, "does not match its md5")


def test_manifest_lacking_a_transactions_segment_is_an_integrity_error(demo):
    """A consistent forgery: a new manifest (its md5 right) without one commit's reviews,
    named by a rewritten .dvc file."""
    import hashlib

    import yaml

    path = _manifest_path(demo)
    entries = [e for e in json.loads(path.read_text()) if not e["relpath"].startswith("reviews/")]
    data = json.dumps(entries, sort_keys=True).encode()
    md5 = hashlib.md5(data).hexdigest()
    new = demo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / (md5[2:] + ".dir")
    new.parent.mkdir(exist_ok=True)
    new.write_bytes(data)
    dvc = yaml.safe_load((demo / "annotations.dvc").read_text())
    dvc["outs"][0]["md5"] = md5 + ".dir"
    (demo / "annotations.dvc").write_text(yaml.safe_dump(dvc))
    commit_all(demo, "drop the reviews")
    assert_refused(run(demo, "query", "select count(*) from reviews"), 1, "lacks reviews/")


# ------------------------------------------------------------ 5, 9. SQL errors, timeouts


@pytest.mark.parametrize(
    "sql, text",
    [
        ("select error('x')", "Invalid Input Error: x"),
        ("select cast(class_name as int) from labels", "Conversion Error"),
        ("select * from duckdb_secrets()", "refused"),
        ("select * from sniff_csv('/etc/passwd')", "refused"),
    ],
)
@pytest.mark.parametrize("timeout", [None, "30"])
def test_runtime_sql_errors_exit_2_with_duckdbs_message(demo, sql, text, timeout):
    args = ["query", sql, "--format", "json"] + (["--timeout", timeout] if timeout else [])
    result = run(demo, *args)
    assert_refused(result, 2, text)
    assert "Traceback" not in result.output and not result.output.startswith("[")


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_timeout_must_be_positive_and_finite(demo, value):
    assert_refused(run(demo, "query", "select 1", "--timeout", value), 2, "timeout")


def test_timeout_covers_the_whole_output_and_streams(demo):
    slow = "select sum(hash(i)) from range(4000000000) t(i)"
    started = time.monotonic()
    result = run(demo, "query", slow, "--timeout", "0.5", "--format", "json")
    assert_refused(result, 2, "stopped after the 0.5 s timeout")
    assert time.monotonic() - started < 10
    snap = Repo.open(demo).at(None)
    rel = snap.sql("select * from range(10)", timeout=5)
    assert "arrow" not in rel.explain().lower()  # a lazy query, not a materialised table
    snap.close()


# ------------------------------------------------------------ 6. bad input


def _jsonl(path: Path, *records: dict) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


ASSET = {"record": "asset", "asset_id": "img.jpg", "width": 640, "height": 480}


@pytest.mark.parametrize(
    "record, field",
    [
        ({"asset_id": "img.jpg", "class_name": "car", "bbox": [1e9, 20, 30, 40]}, "bbox"),
        (
            {"asset_id": "img.jpg", "class_name": "car", "shape": "mask",
             "mask_rle": {"size": [100000000, 100000000], "counts": "0"}},
            "mask_rle",
        ),
        ({"asset_id": ".", "class_name": "car", "bbox": [1, 2, 3, 4]}, "asset_id"),
        ({"asset_id": "../../x", "class_name": "car", "bbox": [1, 2, 3, 4]}, "asset_id"),
        ({"asset_id": "/etc/x.jpg", "class_name": "car", "bbox": [1, 2, 3, 4]}, "asset_id"),
    ],
)  # fmt: skip
def test_bad_geometry_and_asset_ids_are_input_errors(demo, tmp_path, record, field):
    before = tree(demo)
    f = _jsonl(tmp_path / "in.jsonl", ASSET, {**record, "guideline_version": "v2"})
    result = run(demo, "import", "native", f, "--mode", "patch")
    assert_refused(result, 2, f"line 2, field '{field}'")
    assert tree(demo) == before
    lenient = run(demo, "import", "native", f, "--mode", "patch", "--lenient")
    assert lenient.exit_code == 0 and "Skipped" in lenient.output


def test_cvat_negative_width_is_an_input_error(demo, tmp_path):
    xml = tmp_path / "annotations.xml"
    xml.write_text(
        '<annotations><version>1.1</version><image id="0" name="a.jpg" width="-640" '
        'height="480"><box label="car" xtl="1" ytl="2" xbr="3" ybr="4" occluded="0"/>'
        "</image></annotations>"
    )
    assert_refused(run(demo, "import", "cvat", str(xml)), 2, "width")


def test_coco_boolean_category_id_is_an_input_error(demo, tmp_path):
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": True, "bbox": [1, 2, 3, 4], "area": 12}
        ],
    }
    (tmp_path / "c.json").write_text(json.dumps(doc))
    result = run(demo, "import", "coco", str(tmp_path / "c.json"))
    assert_refused(result, 2, "field 'category_id'")


def test_export_refuses_nothing_after_import_refused_unsafe_ids(demo, tmp_path):
    """Before: asset ids like ../../x were accepted, and `export yolo` then died."""
    out = tmp_path / "out"
    assert run(demo, "export", "yolo", str(out)).exit_code == 0
    assert (out / "data.yaml").exists()


# ------------------------------------------------------------ 7. no tracebacks


def test_review_pass_too_large_is_an_input_error(demo, tmp_path):
    csv = tmp_path / "r.csv"
    csv.write_text(
        "label_id,pass,reviewer_id,verdict\nex00000000000004,99999999999999999999,bob,accept\n"
    )
    assert_refused(run(demo, "review", "import", str(csv)), 2, "line 2, field 'pass'")


@pytest.mark.parametrize("command", ["review import", "annotator import", "map"])
def test_non_utf8_csv_is_an_input_error(demo, tmp_path, command):
    csv = tmp_path / "bad.csv"
    csv.write_bytes(b"label_id,pass,reviewer_id,verdict\n\xff\xfe,1,b\xe9b,accept\n")
    if command == "map":
        labels = _jsonl(tmp_path / "l.jsonl", ASSET)
        args = ["import", "native", labels, "--map-annotators", str(csv)]
    else:
        args = [*command.split(), str(csv)]
    assert_refused(run(demo, *args), 2, "not UTF-8")


def test_csv_header_naming_a_column_twice_is_an_input_error(demo, tmp_path):
    csv = tmp_path / "r.csv"
    csv.write_text("label_id,pass,reviewer_id,verdict,label_id\nx,1,bob,accept,y\n")
    assert_refused(run(demo, "review", "import", str(csv)), 2, "field 'label_id'")


def test_bad_lock_timeout_is_an_input_error(demo, tmp_path):
    labels = _jsonl(tmp_path / "l.jsonl", ASSET)
    result = run(demo, "import", "native", labels, env={"LINEAGE_LOCK_TIMEOUT": "abc"})
    assert_refused(result, 2, "LINEAGE_LOCK_TIMEOUT")


# ------------------------------------------------------------ 8. rewritten history


def test_rewritten_history_is_a_finding_of_plain_verify(demo, tmp_path):
    assert run(demo, "verify").exit_code == 0  # remembered as verified
    g = git.Repo(demo)
    g.git.reset("--hard", "HEAD~1")
    labels = _jsonl(
        tmp_path / "l.jsonl",
        {"asset_id": "street_000.jpg", "class_name": "car", "bbox": [1, 2, 30, 40],
         "guideline_version": "v1", "annotator_id": "alice"},
    )  # fmt: skip
    assert run(demo, "import", "native", labels, "--mode", "patch").exit_code == 0
    assert run(demo, "commit", "-m", "rewritten").exit_code == 0
    result = run(demo, "verify", "--format", "json")
    assert result.exit_code == 1
    assert "v2" in result.output and "is not on the history of HEAD" in result.output
    assert "verified earlier" in result.output


# ------------------------------------------------------------ 10. CSV formulas


def test_csv_output_neutralises_formulas(demo):
    repo = Repo.open(demo)
    repo.add_annotator('=HYPERLINK("http://x","y")')
    repo.add_annotator("@SUM(1)")
    out = run(demo, "annotator", "list", "--format", "csv").output
    assert "'=HYPERLINK" in out and "'@SUM(1)" in out
    assert "\n=" not in out and "\n@" not in out
    numbers = run(demo, "query", "select -5 as n, '-x' as s", "--format", "csv").output
    assert numbers.splitlines()[1] == "-5,'-x"


# ------------------------------------------------------------ 11-12. stdout and Ctrl-C


SLOW = "select sum(hash(i)) as s from range({n}) t(i)"


def _python(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize("how", ["-c", "-m"])
def test_stdout_is_data_only_under_python_c_and_m(demo, how):
    """DuckDB draws its progress bar on stdout after 2 s when it thinks it is interactive
    (``python -c``); a query of several seconds must still print plain JSON."""
    sql = SLOW.format(n=1_500_000_000)
    if how == "-c":
        args = ["-c", "from lineage.cli import main; main()", "query", sql, "--format", "json"]
    else:
        args = ["-m", "lineage", "query", sql, "--format", "json"]
    done = _python(*args, cwd=demo)
    assert done.returncode == 0, done.stderr
    assert "▕" not in done.stdout and "%" not in done.stdout
    assert len(json.loads(done.stdout)) == 1


def _wait_for_cpu(pid: int, seconds: float, limit: float = 120.0) -> None:
    """Wait until process ``pid`` has used ``seconds`` of CPU (start-up uses well under
    one): then it is running its query, not still importing."""
    tick = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if (int(fields[11]) + int(fields[12])) / tick >= seconds:
            return
        time.sleep(0.05)
    raise AssertionError("the query never got going")


@pytest.mark.parametrize(
    "args",
    [
        ("query", SLOW.format(n=100_000_000_000), "--format", "json"),
        ("query", SLOW.format(n=100_000_000_000), "--format", "json", "--timeout", "60"),
    ],
)
def test_ctrl_c_stops_within_a_second_with_exit_130(demo, args):
    before = tree(demo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lineage", *args],
        cwd=demo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    try:
        _wait_for_cpu(proc.pid, seconds=2.0)  # well into the query, however loaded the machine
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().endswith("Interrupted.") and "Traceback" not in err
    assert took < 1.5
    assert tree(demo) == before


# ------------------------------------------------------------ a crafted repository


READ_COMMANDS = [
    ("query", "select * from labels"),
    ("query", "--rev", "v1", "select * from label_events"),
    ("log",),
    ("status",),
    ("history", "ex00000000000004"),
    ("blame", "street_000.jpg"),
    ("diff", "v1", "v2"),
    ("audit",),
    ("agreement",),
    ("stats",),
    ("verify",),
    ("annotator", "list"),
    ("guideline", "list"),
]


def test_crafted_repository_reads_and_writes_nothing_outside(demo, tmp_path):
    """A clone whose cache holds a symlink to a file outside, whose .dvc/config names an
    outside remote, and whose lineage.toml carries a policy: every read command exits
    0, 1 or 2 without a traceback, never prints the outside file, writes nothing
    outside the repository."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.parquet").write_text(CANARY)
    snap = Repo.open(demo).at("v1")
    seg = next(s for s in snap.files.segments if s.table == "label_events")
    snap.close()
    seg.path.unlink()
    seg.path.symlink_to(outside / "secret.parquet")
    with open(demo / ".dvc" / "config", "a") as fh:
        fh.write(f"['remote \"evil\"']\n    url = {outside}\n")
    before = tree(tmp_path / "outside")
    for args in READ_COMMANDS:
        for fmt in ("json", "csv"):
            if args[0] in ("audit", "stats") and fmt == "csv":
                continue
            result = run(demo, *args, "--format", fmt)
            assert "Usage:" not in result.output, (args, result.output)
            assert result.exit_code in (0, 1, 2), (args, result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                args,
                result.exception,
            )
            assert CANARY not in result.output, args
    assert run(demo, "query", "select count(*) from labels").exit_code == 1  # refused
    assert tree(tmp_path / "outside") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo", "outside", "outside.txt"]


@pytest.mark.parametrize("delay", [0.2, 0.5])
def test_ctrl_c_during_start_up_is_no_traceback(demo, delay):
    proc = subprocess.Popen(
        [sys.executable, "-m", "lineage", "query", "select 1"],
        cwd=demo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err
    # 130 from lineage; -2 when the signal beat the interpreter's own start; 0 when the
    # whole command was already done
    assert proc.returncode in (130, -signal.SIGINT, 0), (proc.returncode, err)


NATIVE_INTERRUPT = """
import enum, os, signal, sys
if sys.argv[1] == "hold":
    import lineage.__main__ as entry
    sys.meta_path.insert(0, entry._NativeFinder())
original = enum.EnumType.__setattr__
fired = []
def setattr_(cls, name, value):
    if not fired and "_duckdb" in sys.modules:  # DuckDB's native start defines enums
        fired.append(1)
        print("fired", flush=True)
        os.kill(os.getpid(), signal.SIGINT)
    original(cls, name, value)
enum.EnumType.__setattr__ = setattr_
try:
    import duckdb
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.parametrize("hold", [True, False])
def test_ctrl_c_inside_duckdb_native_start_is_held_until_it_is_loaded(tmp_path, hold):
    """Ctrl-C landing inside DuckDB's native module start made nanobind print a
    'Critical nanobind error' traceback (a flaky CI failure); the entry point holds SIGINT
    while that module loads, so the interrupt arrives right after, as a KeyboardInterrupt.
    Without the hold (the oracle) the traceback appears: the test reaches that window."""
    script = tmp_path / "native.py"
    script.write_text(NATIVE_INTERRUPT)
    result = subprocess.run(
        [sys.executable, str(script), "hold" if hold else "bare"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout == "fired\n"  # the signal came inside the native start
    if hold:
        assert (result.returncode, result.stderr) == (130, "")
    else:  # if a DuckDB release stops printing this, the hold can go
        assert "Critical nanobind error" in result.stderr


PACKAGE_INTERRUPT = """
import importlib.abc, os, signal, sys
if sys.argv[1] == "hold":
    import lineage.__main__ as entry
    sys.meta_path.insert(0, entry._NativeFinder())
class Fire(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "duckdb._relation":  # duckdb's Python part, after _duckdb loaded
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Fire())
try:
    import duckdb
except KeyboardInterrupt:
    print("interrupted, duckdb's modules loaded:", "duckdb._relation" in sys.modules, flush=True)
    sys.exit(130)
"""


@pytest.mark.parametrize("hold", [True, False])
def test_ctrl_c_while_the_duckdb_package_loads_arrives_once_it_is_loaded(tmp_path, hold):
    """The hold covers the whole ``duckdb`` package (its modules call the native one as
    they load), and is re-entrant: ``_duckdb`` loading inside it does not end it early.
    Without the hold (the oracle) the interrupt lands halfway through the import."""
    script = tmp_path / "package.py"
    script.write_text(PACKAGE_INTERRUPT)
    result = subprocess.run(
        [sys.executable, str(script), "hold" if hold else "bare"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 130, result.stderr
    assert result.stdout == f"interrupted, duckdb's modules loaded: {hold}\n"


@pytest.mark.parametrize("name", ["lineage.toml", ".dvc/config"])
def test_config_files_that_are_symlinks_out_of_the_repository_are_refused(demo, tmp_path, name):
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text((demo / name).read_text())
    (demo / name).unlink()
    (demo / name).symlink_to(elsewhere)
    assert_refused(run(demo, "query", "select count(*) from labels"), 2, "leads outside")


def test_ctrl_c_while_duckdb_builds_the_views_exits_130(demo, monkeypatch):
    """Under load, Ctrl-C can land before the query runs, while DuckDB creates the
    views: DuckDB then raises a bare RuntimeError, which must still exit 130."""
    from click.testing import CliRunner

    from lineage.cli import main
    from lineage.query import connection

    def interrupted(*args, **kwargs):
        raise RuntimeError("Query interrupted")

    monkeypatch.setattr(connection.Views, "_make", interrupted)  # views made on first use
    res = CliRunner().invoke(main, ["-C", str(demo), "query", "select count(*) from labels"])
    assert res.exit_code == 130 and "Interrupted." in res.output
    assert "Traceback" not in res.output
