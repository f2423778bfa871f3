"""Property: merging two branches of random edits from a common base equals applying
both sides' non-conflicting edits, and the conflicts are exactly the labels both sides
changed to different outcomes (real git + DVC; slow)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lineage.repo import Repo
from tests.conftest import make_git
from tests.test_merge import ASSETS, box, checkout, delete, lid, stage, state

pytestmark = pytest.mark.slow
BASE = range(1, 7)  # labels of the common history
NEW = range(20, 23)  # labels either side may create (both creating one is a conflict)
X = [5.0, 15.0, 25.0, 35.0]  # few values: both sides sometimes make the same edit


def actions(draw_label):
    """One side's script: commits of {label: x (create or edit) or None (delete)}."""
    action = st.one_of(st.none(), st.sampled_from(X))
    commit = st.dictionaries(st.sampled_from([*BASE, *NEW]), action, min_size=1, max_size=4)
    return st.lists(commit, min_size=1, max_size=2)


def play(script: list[dict], start: dict) -> tuple[dict, set, list[list[dict]]]:
    """(final state, labels that got an event, the records of each commit) of a script
    applied to ``start`` (label number -> x), as the import will apply it. A label
    deleted on a side stays deleted there (re-creating it is matched by IoU)."""
    cur, touched, commits, gone = dict(start), set(), [], set()
    for step in script:
        records = []
        for n, x in sorted(step.items()):
            if x is None:
                if n in cur:
                    records.append(delete(n))
                    del cur[n]
                    gone.add(n)
                    touched.add(n)
            elif n not in gone and cur.get(n) != x:
                # a new label gets a row of its own: an id the store has not seen is
                # matched by IoU first (docs/storage.md), and must not hit another label
                records.append(
                    box(n, x, bbox=[x, 40 + 20 * (n - NEW[0]), 20, 20]) if n in NEW else box(n, x)
                )
                cur[n] = x
                touched.add(n)
        commits.append(records)
    return cur, touched, commits


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ours=actions(None), theirs=actions(None))
def test_merge_applies_both_sides_and_conflicts_are_what_both_changed(ours, theirs):
    start = {n: 10.0 * n for n in BASE}
    ours_end, ours_touched, ours_commits = play(ours, start)
    theirs_end, theirs_touched, theirs_commits = play(theirs, start)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        make_git(tmp_path / "repo")
        repo = Repo.init(tmp_path / "repo")
        repo.git.index.commit("set up")
        repo.git.git.branch("-M", "main")
        repo.add_guideline("v1", classes=["car", "person", "bike"])
        stage(repo, tmp_path, "base", ASSETS + [box(n, x) for n, x in start.items()])
        repo.commit("base")
        repo.git.git.branch("vendor")
        for branch, commits in (("vendor", theirs_commits), ("main", ours_commits)):
            checkout(repo, branch)
            for i, records in enumerate(commits):
                if records:
                    stage(repo, tmp_path, f"{branch}{i}", records)
                    repo.commit(f"{branch} {i}")

        result = repo.merge("vendor")
        both = ours_touched & theirs_touched
        differ = {n for n in both if ours_end.get(n) != theirs_end.get(n)}
        if result.status == "conflicts":
            with repo.conflicts() as rows:
                got = {r["label_id"] for r in rows.arrow().to_pylist()}
            assert got == {lid(n) for n in differ}
            repo.resolve(sorted(got), "ours")
            repo.merge_continue()
        else:
            assert not differ and result.status in ("merged", "fast-forward", "up-to-date")

        expected = {}
        for n in {*start, *ours_end, *theirs_end}:
            side = theirs_end if n in theirs_touched and n not in ours_touched else ours_end
            if n in side:
                expected[lid(n)] = ("car", side[n])
        assert state(repo) == expected
        with repo.at() as snap:  # revisions strictly increasing: 1..n for each label
            gaps = snap.con.sql(
                "SELECT label_id FROM label_events GROUP BY label_id "
                "HAVING count(*) <> max(revision) OR count(DISTINCT revision) <> count(*)"
            ).fetchall()
        assert gaps == []
        assert repo.verify().ok
