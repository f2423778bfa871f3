"""lineage merge: branches of the label store merge label by label, on real git + DVC."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lineage.errors import InputError, RepoError
from lineage.repo import Repo
from tests.conftest import make_git, write_jsonl

ASSETS = [
    {"record": "asset", "asset_id": f"img{i}.jpg", "width": 200, "height": 100} for i in (1, 2)
]


def lid(n: int) -> str:
    return f"lab{n:013d}"


def box(n: int, x: float, cls: str = "car", **extra) -> dict:
    return {
        "label_id": lid(n),
        "asset_id": "img1.jpg" if n % 2 else "img2.jpg",
        "class_name": cls,
        "bbox": [x, 10, 20, 20],
        "annotator_id": "ann1",
        "source": "human",
        **extra,
    }


def delete(n: int) -> dict:
    return {"label_id": lid(n), "asset_id": "img1.jpg" if n % 2 else "img2.jpg", "op": "delete"}


def stage(repo: Repo, tmp: Path, name: str, records: list[dict]) -> None:
    path = write_jsonl(tmp / f"{name}.jsonl", records)
    repo.import_("native", path, guideline="v1", mode="patch")


def checkout(repo: Repo, branch: str, create: bool = False) -> None:
    repo.git.git.checkout(*(["-b"] if create else []), branch)
    from lineage.versioning import dvcstore

    dvcstore.checkout(repo.root, repo.layout.store_name)


def state(repo: Repo, rev: str | None = None) -> dict:
    """label_id -> (class, bbox x) of the current labels."""
    with repo.at(rev) as snap:
        rows = snap.con.sql("SELECT label_id, class_name, bbox.x FROM labels").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


@pytest.fixture
def base(tmp_path) -> Repo:
    """main with labels 1..6 committed (tag base); branches ours=main and theirs=vendor."""
    make_git(tmp_path / "repo")
    repo = Repo.init(tmp_path / "repo")
    repo.git.index.commit("set up lineage")
    repo.git.git.branch("-M", "main")
    repo.add_guideline("v1", classes=["car", "person", "bike"])
    stage(repo, tmp_path, "base", ASSETS + [box(n, 10.0 * n) for n in range(1, 7)])
    repo.commit("base", tag="base")
    repo.git.git.branch("vendor")
    return repo


def on_branches(repo: Repo, tmp: Path, ours: list[dict], theirs: list[dict]) -> None:
    """Commit ``theirs`` on vendor and ``ours`` on main; main checked out."""
    checkout(repo, "vendor")
    if theirs:
        stage(repo, tmp, "theirs", theirs)
        repo.commit("vendor work")
    checkout(repo, "main")
    if ours:
        stage(repo, tmp, "ours", ours)
        repo.commit("main work")


def test_disjoint_edits_merge_cleanly_into_the_union(base, tmp_path):
    on_branches(base, tmp_path, [box(1, 15.0), box(7, 70.0)], [box(2, 25.0), delete(3)])
    want = state(base)
    theirs = state(base, "vendor")
    want.update({lid(2): theirs[lid(2)]})
    del want[lid(3)]
    ours_head = base.git.head.commit.hexsha

    result = base.merge("vendor")
    assert result.status == "merged" and result.renumbered == 0
    assert state(base) == want == state(base, "HEAD")
    merge = base.git.head.commit
    assert [p.hexsha for p in merge.parents] == [ours_head, base.git.commit("vendor").hexsha]
    assert base.verify().ok
    # the diff against either parent is exactly the other side's changes
    with base.diff("HEAD~1", "HEAD") as d:
        assert {r["label_id"] for r in d.rows().arrow().to_pylist()} == {lid(2), lid(3)}
    with base.diff("vendor", "HEAD") as d:
        assert {r["label_id"] for r in d.rows().arrow().to_pylist()} == {lid(1), lid(7)}


def test_a_plain_git_merge_refuses_with_guidance_and_keeps_the_store(base, tmp_path):
    on_branches(base, tmp_path, [box(1, 15.0)], [box(2, 25.0)])
    pointer = (base.root / "annotations.dvc").read_text()
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        ["git", "merge", "vendor"], cwd=base.root, capture_output=True, text=True, env=env
    )
    assert done.returncode != 0
    assert "lineage merge" in done.stdout + done.stderr
    assert (base.root / "annotations.dvc").read_text() == pointer  # our side, no markers
    with pytest.raises(RepoError, match="plain git merge"):
        stage(base, tmp_path, "more", [box(4, 44.0)])
    base.git.git.merge("--abort")
    assert base.merge("vendor").status == "merged"


def test_conflicts_show_each_kind_and_resolve(base, tmp_path):
    base.add_review(lid(5), pass_=1, reviewer="rev1", verdict="accept")
    base.add_review(lid(6), pass_=1, reviewer="rev1", verdict="accept")
    base.commit("reviews")
    base.git.git.branch("-f", "vendor")
    on_branches(
        base,
        tmp_path,
        [box(1, 11.0), box(2, 21.0), delete(4)],
        [box(1, 12.0), delete(2), box(4, 42.0), box(6, 66.0)],
    )
    base.add_review(lid(5), pass_=2, reviewer="rev2", verdict="accept")
    base.commit("ours review")
    checkout(base, "vendor")
    base.add_review(lid(5), pass_=2, reviewer="rev3", verdict="reject")
    base.commit("theirs review")
    checkout(base, "main")
    before = state(base)

    result = base.merge("vendor")
    with base.conflicts() as rows:
        got = {r["label_id"]: r for r in rows.arrow().to_pylist()}
    assert result.status == "conflicts" and result.conflicts == 4, sorted(got)
    assert got[lid(1)]["conflict"] == "both edited"
    assert (got[lid(1)]["base_revision"], got[lid(1)]["ours_revision"]) == (1, 2)
    assert got[lid(1)]["theirs_revision"] == 3  # moved above ours
    assert got[lid(2)]["conflict"] == "edited vs deleted"
    assert got[lid(2)]["theirs_change"] == "deleted"
    assert got[lid(4)]["conflict"] == "deleted vs edited"
    assert got[lid(5)]["conflict"] == "reviewed differently"
    assert got[lid(5)]["ours_change"] == "reviewed accept"
    assert got[lid(5)]["theirs_change"] == "reviewed reject"
    assert lid(6) not in got  # only theirs changed it
    with base.at() as snap:  # the view, while the merge is in progress
        assert snap.con.sql("SELECT count(*) FROM conflicts").fetchall() == [(4,)]
    with pytest.raises(RepoError, match="not resolved"):
        base.merge_continue()
    with pytest.raises(RepoError, match="merge is in progress"):
        stage(base, tmp_path, "more", [box(3, 33.0)])
    with pytest.raises(InputError, match="not in conflict"):
        base.resolve([lid(6)], "ours")
    with pytest.raises(InputError, match="revisions 1 to 3"):
        base.resolve([lid(1)], "revision", 9)

    base.resolve([lid(1)], "theirs")
    base.resolve([lid(2)], "ours")
    base.resolve([lid(4)], "revision", 1)  # the common history's box
    base.resolve([lid(5)], "theirs")
    result = base.merge_continue()
    assert result.status == "merged" and result.resolved == 4
    now = state(base)
    assert now[lid(1)] == ("car", 12.0)
    assert now[lid(2)] == ("car", 21.0)
    assert now[lid(4)] == before.get(lid(4), ("car", 40.0)) or now[lid(4)] == ("car", 40.0)
    assert now[lid(6)] == ("car", 66.0)
    hist = {r["revision"]: r for r in base.history(lid(1)).arrow().to_pylist()}
    assert sorted(hist) == [1, 2, 3, 4]  # strictly increasing, both branches kept
    assert hist[2]["branch"] == "main" and hist[3]["branch"] == "vendor"
    assert hist[4]["branch"] == "main" and hist[4]["bbox"]["x"] == 12.0
    (resolution,) = [r for r in hist[4]["reviews"] if r["kind"] == "merge"]
    assert "took theirs (vendor)" in resolution["reason"]
    assert resolution["reviewer_id"] == "tests@lineage.invalid"
    with base.at() as snap:
        verdict = snap.con.sql(
            f"SELECT latest_verdict FROM label_lineage WHERE label_id = '{lid(5)}'"
        ).fetchall()
    assert verdict == [("reject",)]
    report = base.verify()
    assert report.ok, report.problems
    for parent in ("HEAD~1", "vendor"):  # the diff against each parent is exact
        with base.diff(parent, "HEAD") as d:
            changed = {r["label_id"] for r in d.rows().arrow().to_pylist()}
        a, b = state(base, parent), state(base)
        assert {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)} <= changed


def test_the_review_site_shows_the_branch_of_each_revision(base, tmp_path):
    on_branches(base, tmp_path, [box(1, 11.0)], [box(1, 12.0)])
    base.merge("vendor")
    base.resolve([lid(1)], "theirs")
    base.merge_continue()
    base.show(tmp_path / "site", labels=[lid(1)])
    text = "".join(
        p.read_text()
        for p in (tmp_path / "site").rglob("*")
        if p.is_file() and p.suffix in (".js", ".html", ".json")
    )
    assert '"branch":"vendor"' in text.replace(" ", "") and "version · branch" in text


def test_abort_leaves_both_branches_as_they_were(base, tmp_path):
    on_branches(base, tmp_path, [box(1, 11.0)], [box(1, 12.0)])
    heads = {b: base.git.commit(b).hexsha for b in ("main", "vendor")}
    ours = state(base)
    assert base.merge("vendor").status == "conflicts"
    base.merge_abort()
    assert {b: base.git.commit(b).hexsha for b in ("main", "vendor")} == heads
    assert state(base) == ours and not (base.root / ".git" / "MERGE_HEAD").exists()
    assert base.verify().ok
    stage(base, tmp_path, "after", [box(3, 31.0)])  # writes work again
    base.commit("after abort")


def test_resolutions_from_csv_and_new_commits_continue_numbering(base, tmp_path):
    on_branches(base, tmp_path, [box(1, 11.0), box(2, 21.0)], [box(1, 12.0), box(2, 22.0)])
    base.merge("vendor")
    csv = tmp_path / "res.csv"
    csv.write_text(f"label_id,take,revision\n{lid(1)},ours,\n{lid(2)},revision,3\n")
    assert base.resolve(from_file=csv) == 2
    bad = tmp_path / "bad.csv"
    bad.write_text(f"label_id,take\n{lid(1)},mine\n")
    with pytest.raises(InputError, match="line 2") as exc:
        base.resolve(from_file=bad)
    assert exc.value.field == "take"
    base.merge_continue()
    assert state(base)[lid(1)] == ("car", 11.0) and state(base)[lid(2)] == ("car", 22.0)
    stage(base, tmp_path, "later", [box(2, 23.0)])
    base.commit("after merge")
    revs = [r["revision"] for r in base.history(lid(2)).arrow().to_pylist()]
    assert revs == [1, 2, 3, 4, 5]
    assert base.verify().ok


def test_merging_twice_and_back_keeps_one_history(base, tmp_path):
    on_branches(base, tmp_path, [box(1, 11.0)], [box(1, 12.0), box(2, 22.0)])
    base.merge("vendor")
    base.resolve([lid(1)], "ours")
    base.merge_continue()
    checkout(base, "vendor")
    stage(base, tmp_path, "v2", [box(3, 33.0)])
    base.commit("more vendor work")
    assert base.merge("main").status == "merged"  # vendor takes main's merge in
    checkout(base, "main")
    assert base.merge("vendor").status == "fast-forward"
    assert state(base)[lid(1)] == ("car", 11.0) and state(base)[lid(3)] == ("car", 33.0)
    revs = [r["revision"] for r in base.history(lid(1)).arrow().to_pylist()]
    assert revs == [1, 2, 3, 4]
    assert base.verify().ok


def test_the_audit_can_require_a_review_after_a_resolution(base, tmp_path):
    from lineage.audit.policy import Policy

    on_branches(base, tmp_path, [box(1, 11.0)], [box(1, 12.0), box(2, 22.0)])
    base.merge("vendor")
    base.resolve([lid(1)], "theirs")
    base.merge_continue()

    def status(policy: Policy):
        result = base.audit(policy=policy)
        found = [f for f in result.findings if f.check == "coverage.merge_resolution"]
        (check,) = [c for c in result.checks if c.id == "coverage.merge_resolution"]
        return check.status, found

    strict = Policy(required_passes=0, review_after_merge=True)
    verdict, (found,) = status(strict)
    assert verdict == "fail" and found.count == 1 and found.examples == [lid(1)]
    assert status(Policy())[0] == "off"
    base.add_review(lid(1), pass_=1, reviewer="rev9", verdict="accept")
    assert status(strict) == ("pass", [])


def test_a_kill_during_the_merge_commit_rolls_back_and_continue_finishes(base, tmp_path):
    from lineage.versioning import gitrepo

    on_branches(base, tmp_path, [box(1, 11.0)], [box(1, 12.0)])
    base.merge("vendor")
    base.resolve([lid(1)], "ours")
    real = gitrepo.commit_paths

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies before git records the merge commit

    gitrepo.commit_paths = killed
    try:
        with pytest.raises(KeyboardInterrupt):
            base.merge_continue()
    finally:
        gitrepo.commit_paths = real
    again = Repo.open(base.root)
    assert again.git.head.commit.hexsha == base.git.commit("main").hexsha
    result = again.merge_continue()  # recovery rolled the half-commit back: finish it now
    assert result.status == "merged"
    assert any("rolled back" in n for n in again.notes)
    assert state(again)[lid(1)] == ("car", 11.0)
    assert again.verify().ok
