"""The first hour of use, each surprise found by trying it (issue 12, item 6), plus
snapshot deletes (item 4) and the quickstart's pipeline (item 5)."""

from __future__ import annotations

import io
import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lineage.cli import main
from lineage.demo import build_demo
from lineage.repo import Repo
from tests.conftest import make_git


@pytest.fixture(scope="module")
def demo_master(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "demo"
    build_demo(root)
    return root


@pytest.fixture
def demo(demo_master, tmp_path) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(demo_master, root, symlinks=True)
    return root


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


# ------------------------------------------------------------ tables


@pytest.mark.parametrize("width", [80, 120])
def test_tables_never_break_an_id_or_a_date(demo, width):
    from lineage.cli.output import _batches, _table

    with Repo.open(demo).at(None) as snap:
        ids = [r[0] for r in snap.con.sql("SELECT label_id FROM labels").fetchall()]
        rel = snap.sql(
            "SELECT label_id, asset_id, created_at, txn_id, attributes, class_name FROM labels"
        )
        out = io.StringIO()
        columns, batches = _batches(rel)
        _table(columns, batches, out, "labels", width=width)
    text = out.getvalue()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    for label_id in ids:  # the first column: always whole, on one line
        assert any(label_id in line for line in lines), label_id
    assert "2026-10-01T09:00:00+00:00" in text  # a date, whole


# ------------------------------------------------------------ one JSON value each


def test_status_and_demo_print_one_json_value(demo, tmp_path):
    status = run("-C", str(demo), "status", "--format", "json")
    assert isinstance(json.loads(status.stdout), dict)
    built = run("demo", str(tmp_path / "other"))  # piped: JSON, as every command
    assert isinstance(json.loads(built.stdout), list)


def test_missing_folder_is_named(tmp_path):
    result = run("-C", str(tmp_path / "nowhere"), "log")
    assert result.exit_code == 2
    assert f"the folder {tmp_path / 'nowhere'} does not exist" in result.output


# ------------------------------------------------------------ no machine paths


def test_audit_reports_name_no_absolute_paths(demo, tmp_path):
    policy = tmp_path / "outside" / "policy.toml"
    policy.parent.mkdir()
    shutil.copy(demo / "example-data" / "policy.toml", policy)
    inside = demo / "example-data" / "policy.toml"
    for path, shown in ((policy, "policy.toml"), (inside, "example-data/policy.toml")):
        for fmt in ("json", "text", "markdown", "html"):
            out = run("-C", str(demo), "audit", "--policy", str(path), "--format", fmt).stdout
            assert str(tmp_path) not in out, fmt
            assert shown in out, fmt


# ------------------------------------------------------------ terminals


def _on_a_terminal(args: list[str], cwd: Path) -> bytes:
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(cwd)
        os.execvp(sys.executable, [sys.executable, "-m", "lineage", *args])
    out = b""
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    os.waitpid(pid, 0)
    return out


def test_no_stray_escape_codes_after_push_and_pull(demo, tmp_path):
    Repo.open(demo).remote_add("backup", str(tmp_path / "remote"))
    for command, last in (("push", b"Pushed"), ("pull", b"Fetched")):
        out = _on_a_terminal([command], demo)
        tail = out[out.rindex(last) :]
        assert b"\x1b" not in tail, tail  # nothing after the final message


# ------------------------------------------------------------ what to commit


def test_init_and_remote_add_say_what_to_commit(tmp_path):
    make_git(tmp_path / "r")
    init = run("-C", str(tmp_path / "r"), "init")
    assert "lineage.toml, .gitignore, .dvc/config" in init.stderr
    assert "git commit" in init.stderr
    added = run("-C", str(tmp_path / "r"), "remote", "add", "b", str(tmp_path / "remote"))
    assert ".dvc/config" in added.stderr and "git commit" in added.stderr


def test_commit_warns_without_a_git_identity(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    subprocess.run(["git", "init", "-q", str(tmp_path / "r")], check=True)
    repo = Repo.init(tmp_path / "r")
    repo.add_guideline("v1", classes=["car"])
    result = run("-C", str(tmp_path / "r"), "commit", "-m", "first")
    assert "git has no user identity" in result.stderr


# ------------------------------------------------------------ the demo


def test_demo_agreement_shows_real_figures(demo):
    rows = Repo.open(demo).agreement(by="pair").to_pylist()
    matched = [
        r
        for r in rows
        if r["figure"] == "object_mean_iou" and r["value"] is not None and r["value"] == r["value"]
    ]
    assert matched and all(0.8 < r["value"] <= 1 for r in matched)
    precision = [r["value"] for r in rows if r["figure"] == "object_precision"]
    assert any(0 < p <= 1 for p in precision)


def test_demo_help_and_docs_agree_on_its_versions(demo):
    help_text = main.commands["demo"].help
    tags = sorted(t.name for t in Repo.open(demo).git.tags)
    assert tags == ["v1", "v1-unreviewed", "v2"]
    for tag in tags:
        assert tag in help_text
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "3 tagged versions" in readme


# ------------------------------------------------------------ SQL that runs as shown


def test_history_and_diff_sql_run_as_is_in_query(demo):
    sql = run("-C", str(demo), "history", "ex00000000000004", "--sql").stdout
    result = run("-C", str(demo), "query", sql, "--format", "json")
    assert result.exit_code == 0, result.output
    revisions = json.loads(result.stdout)
    assert len(revisions) >= 2


# ------------------------------------------------------------ snapshot deletes loudly


def test_snapshot_import_says_what_it_deletes_and_dry_run_stages_nothing(demo, tmp_path):
    out = tmp_path / "coco"
    Repo.open(demo).export("coco", out)
    doc = json.loads((out / "annotations.json").read_text())
    first_image = doc["images"][0]["id"]
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] != first_image]
    doc["annotations"].append(
        {"id": 999, "image_id": first_image, "category_id": doc["categories"][0]["id"],
         "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0}
    )  # fmt: skip
    (out / "annotations.json").write_text(json.dumps(doc))
    dry = run("-C", str(demo), "import", "coco", str(out / "annotations.json"), "--dry-run",
              "--format", "json")  # fmt: skip
    assert dry.exit_code == 0, dry.output
    events = json.loads(dry.stdout)
    deletes = [e for e in events if e["op"] == "delete"]
    assert deletes and {e["asset_id"] for e in deletes} == {doc["images"][0]["file_name"]}
    assert f"{len(deletes)} label(s) on 1 image(s)" in dry.stderr and "would be" in dry.stderr
    assert Repo.open(demo).status().staged == []
    real = run("-C", str(demo), "import", "coco", str(out / "annotations.json"))
    assert f"{len(deletes)} label(s) on 1 image(s) are not in the file" in real.stderr


# ------------------------------------------------------------ the quickstart pipeline


def test_dvc_repro_works_on_a_fresh_clone(tmp_path):
    checkout = Path(__file__).resolve().parents[2]
    clone = tmp_path / "clone"
    shutil.copytree(
        checkout,
        clone,
        ignore=shutil.ignore_patterns(".venv", "build", "*.egg-info", "__pycache__", ".lineage"),
    )
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    repro = subprocess.run(
        [sys.executable, "-m", "dvc", "repro"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert repro.returncode == 0, repro.stdout + repro.stderr
    show = subprocess.run(
        [sys.executable, "-m", "dvc", "metrics", "show", "--json"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )
    assert show.returncode == 0, show.stderr
    assert "labels_audited" in show.stdout


def test_dvc_metrics_diff_compares_the_demo_versions_distributions(demo):
    """Each demo version commits its audit figures; `dvc metrics diff v1 v2` (real DVC)
    shows how the label distributions per class, split, annotator and source moved."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "metrics", "diff", "v1", "v2", "--all", "--json"],
        cwd=demo,
        capture_output=True,
        text=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    diff = json.loads(proc.stdout)["metrics/audit.json"]
    repo = Repo.open(demo)
    for rev in ("v1", "v2"):
        with repo.query("select l.class_name, count(*) as n from labels l group by 1", rev) as rows:
            counts = {r["class_name"]: r["n"] for r in rows.to_pylist()}
        side = "old" if rev == "v1" else "new"
        for cls, n in counts.items():
            assert diff[f"distributions.class.{cls}"][side] == n
    assert diff["distributions.class.scooter"]["old"] is None  # the class v2 added
    assert {"distributions.source.human", "distribution_shares.split.train"} <= set(diff)


def test_pseudonymized_report_hides_annotators_in_the_distributions(demo):
    from lineage.formats.pseudonym import pseudonym

    result = Repo.open(demo).audit("v2")
    hidden = result.pseudonymized(b"k" * 32)
    names = {r["key"] for r in result.distributions if r["dimension"] == "annotator"}
    shown = {r["key"] for r in hidden.distributions if r["dimension"] == "annotator"}
    assert names and not names & shown
    assert shown == {pseudonym(n, b"k" * 32) for n in names}
    classes = [r for r in hidden.distributions if r["dimension"] == "class"]
    assert classes == [r for r in result.distributions if r["dimension"] == "class"]


def test_evidence_pack_checks_with_sha256sum(demo, tmp_path):
    """`lineage audit --evidence DIR` writes one version's evidence; coreutils'
    sha256sum checks it with no lineage installed, and catches a changed file."""
    pack = tmp_path / "evidence-v2"
    res = run("-C", str(demo), "audit", "--rev", "v2", "--evidence", str(pack), "--format", "json")
    assert res.exit_code == 1  # the demo's v2 has error findings: the pack is written anyway
    report = json.loads(res.stdout)
    names = {p.name for p in pack.iterdir()}
    assert names == {"MANIFEST.json", "SHA256SUMS", "audit.json", "audit.html", "policy.json",
                     "verify.json", "guidelines.json", "samples.json", "samples.csv"}  # fmt: skip
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=pack, capture_output=True,
                           text=True)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == len(names) - 1
    manifest = json.loads((pack / "MANIFEST.json").read_text())
    assert {f["path"] for f in manifest["files"]} == names - {"MANIFEST.json", "SHA256SUMS"}
    policy = json.loads((pack / "policy.json").read_text())
    assert policy["sha256"] == report["policy"]["sha256"] == json.loads(
        (pack / "audit.json").read_text())["policy"]["sha256"]  # fmt: skip
    repo = Repo.open(demo)
    verified = json.loads((pack / "verify.json").read_text())
    assert verified["ok"] and verified["merkle_root"] == repo.verify("v2").root
    proofs = {p["since"]: p for p in verified["consistency_proofs"]}
    assert set(proofs) == {"v1", "v1-unreviewed"} and all(p["verified"] for p in proofs.values())
    docs = {
        g["version"]: g["doc_sha256"] for g in json.loads((pack / "guidelines.json").read_text())
    }
    example = demo / "example-data"
    import hashlib

    for version in ("v1", "v2"):
        digest = hashlib.sha256((example / f"guideline-{version}.md").read_bytes()).hexdigest()
        assert docs[version] == digest
    (pack / "audit.json").write_text("{}")  # tampered
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=pack, capture_output=True,
                           text=True)  # fmt: skip
    assert check.returncode != 0 and "audit.json: FAILED" in check.stdout
    res = run("-C", str(demo), "audit", "--rev", "v2", "--evidence", str(pack))
    assert res.exit_code == 2 and "not empty" in res.output
    make_git(tmp_path / "fresh")
    Repo.init(tmp_path / "fresh")
    res = run("-C", str(tmp_path / "fresh"), "audit", "--evidence", str(tmp_path / "ev"))
    assert res.exit_code == 2 and "nothing is committed yet" in res.output
    assert not (tmp_path / "ev").exists()


def test_remote_add_checks_its_options_and_writes_no_secret(tmp_path):
    make_git(tmp_path / "r")
    Repo.init(tmp_path / "r")
    root = str(tmp_path / "r")
    res = run("-C", root, "remote", "add", "x", str(tmp_path / "folder"),
              "--endpoint-url", "http://127.0.0.1:9000")  # fmt: skip
    assert res.exit_code == 2 and "for s3:// remotes" in res.output
    res = run("-C", root, "remote", "add", "x", "s3://b/p", "--endpoint-url", "127.0.0.1:9000")
    assert res.exit_code == 2 and "must start with http" in res.output
    res = run("-C", root, "remote", "add", "x", "s3://b/p", "--region", "eu-west-1", "--commit")
    assert res.exit_code == 0, res.output
    config = (tmp_path / "r" / ".dvc" / "config").read_text()
    assert "region = eu-west-1" in config and "read_timeout = 60" in config
    assert "secret" not in config and "access_key" not in config


def test_remote_errors_name_the_case_from_the_exception_chain():
    """The storage libraries' exceptions, as they arrive wrapped, map to one case each
    (the slow suite checks them against a real S3 server)."""
    from lineage.errors import (
        RemoteAccessDenied,
        RemoteBucketMissing,
        RemoteCredentials,
        RemoteError,
        RemotePluginMissing,
        RemoteUnreachable,
    )
    from lineage.versioning.remote_errors import translate

    def wrapped(inner: BaseException) -> BaseException:
        try:
            try:
                raise inner
            except BaseException as exc:
                raise RuntimeError("push failed") from exc
        except RuntimeError as outer:
            return outer

    class EndpointConnectionError(Exception):
        pass

    class NoCredentialsError(Exception):
        pass

    cases = [
        (wrapped(EndpointConnectionError("Could not connect")), RemoteUnreachable, 4),
        (wrapped(NoCredentialsError("Unable to locate credentials")), RemoteCredentials, 5),
        (wrapped(FileNotFoundError("The specified bucket does not exist")), RemoteBucketMissing, 6),
        (wrapped(PermissionError("Access Denied")), RemoteAccessDenied, 7),
        (RuntimeError("gs is supported, but requires 'dvc-gs' to be installed"),
         RemotePluginMissing, 8),
        (wrapped(ValueError("something else")), RemoteError, 3),
    ]  # fmt: skip
    for exc, kind, code in cases:
        err = translate(exc, "store", "s3://b/p", "push")
        assert type(err) is kind and err.exit_code == code
        assert "remote 'store' (s3://b/p)" in err.message
