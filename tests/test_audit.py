"""`lineage audit` through the Python API: a crafted dataset with exactly one violation
of each kind, a clean one, the policy file, and the four report formats.

The crafted repositories are never committed: audits read HEAD plus staged work, which
keeps these tests fast. ``build`` is shared with the CLI tests.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lineage.audit import run as audit_run
from lineage.audit.checks import CHECK_IDS, CHECKS, Finding, coverage_sql, run_check
from lineage.audit.policy import Policy, load_policy, parse_policy
from lineage.errors import InputError
from lineage.repo import Repo
from lineage.show.report import render_report, svg_bar_chart, text_bars
from tests.conftest import make_git, write_jsonl

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"

POLICY = """\
[policy]
required_passes = 1
current_guideline = "v2"
model_labels_need_human_accept = true
review_after_merge = true

[policy.class_passes]
person = 2

[policy.separation_of_duties]
no_self_review = true
distinct_pass_reviewers = true

[policy.limits]
max_rejection_rate = 0.4
min_labels_per_class = 1
"""

# check id -> the one example it must report (a label id unless the check counts
# guideline versions, annotators or classes)
EXPECTED = {
    "trace.annotator": "v_annot",
    "trace.source": "v_source",
    "trace.guideline": "v_guide",
    "trace.guideline_document": "v1",
    "trace.review_target": "c1",
    "trace.reviewer": "v_reviewer",
    "trace.asset": "v_asset",
    "coverage.passes": "v_cover",
    "coverage.edited_after_review": "v_edited",
    "duties.self_review": "v_self",
    "duties.repeat_reviewer": "v_repeat",
    "guideline.taxonomy": "v_taxon",
    "guideline.superseded": "v_super",
    "model.human_accept": "v_model",
    "review.rejected": "v_reject",
    "limits.rejection_rate": "erin",
    "limits.labels_per_class": "bus",
    "guideline.not_in_force": "v_force",
    "coverage.unlabelled": "u.jpg",
    "splits.leak": "s1.jpg, s2.jpg",
    "geometry.degenerate": "v_zero",
    "geometry.outside": "v_out",
    "geometry.duplicate": "v_dup",
}


_BOXES: dict[str, list[int]] = {}
V1_RELEASED, V2_RELEASED = "2026-01-01T00:00:00+00:00", "2026-06-01T00:00:00+00:00"
UNDER_V1 = "2026-03-01T00:00:00Z"  # while v1 was in force


def _label(label_id, cls="car", annotator="alice", guideline="v2", asset="a.jpg", **extra):
    """A label with a box of its own (labels sharing a box would be duplicates)."""
    k = _BOXES.setdefault(label_id, [2 * len(_BOXES), 2 * len(_BOXES)])
    rec = {"label_id": label_id, "asset_id": asset, "class_name": cls,
           "bbox": [5 + k[0], 5 + k[1], 20, 20], "annotator_id": annotator,
           "source": "human"}  # fmt: skip
    if guideline is not None:
        rec["guideline_version"] = guideline
    return {**rec, **extra}


CLEAN_LABELS = [
    _label("c1", "car"),
    _label("c2", "person", "bob"),
    _label("c3", "bike"),
    _label("c4", "truck", "bob"),
    _label("c5", "car", "det", source="model", model_version="m1"),
]
CLEAN_REVIEWS = [  # label_id,pass,reviewer_id,verdict,reason,guideline_version,revision
    "c1,1,carol,accept,,v2,",
    "c2,1,carol,accept,,v2,",
    "c2,2,dave,accept,,v2,",  # person needs two passes
    "c3,1,carol,accept,,v2,",
    "c4,1,dave,accept,,v2,",
    "c5,1,carol,accept,,v2,",
]
BAD_LABELS = [
    _label("v_annot", annotator="zed"),  # not registered
    _label("v_source", annotator="det", source="model"),  # no model_version
    _label("v_guide", guideline=None),
    _label("v_doc", guideline="v1", created_at=UNDER_V1),  # v1 has no document hash
    _label("v_reviewer"),
    _label("v_asset", asset="x.jpg"),  # no asset record
    _label("v_cover"),  # never reviewed
    _label("v_edited"),  # reviewed, then edited
    _label("v_self"),
    _label("v_repeat"),
    _label("v_taxon", "scooter"),
    _label("v_super", guideline="v1", created_at=UNDER_V1),  # not reviewed under v2
    _label("v_model", annotator="det", source="model", model_version="m1"),
    _label("v_reject", annotator="bob"),
    _label("e1", annotator="erin"),  # rejected, then fixed: erin's rate is 1/2
    _label("v_force", created_at="2026-05-01T00:00:00Z"),  # before v2's release
    _label("v_zero", bbox=[30, 30, 0, 10]),  # no width
    _label("v_out", bbox=[88, 10, 15, 20]),  # 3 px past the right edge
    _label("v_dup", bbox=[5, 5, 20, 20]),  # c1's class and box
]
BAD_REVIEWS = [
    "v_annot,1,carol,accept,,v2,",
    "v_source,1,carol,accept,,v2,",
    "v_guide,1,carol,accept,,v2,",
    "v_doc,1,carol,accept,,v2,",
    "c1,1,carol,accept,,v2,7",  # revision 7 of c1 does not exist
    "v_reviewer,1,ghost,accept,,v2,",
    "v_asset,1,carol,accept,,v2,",
    "v_edited,1,carol,accept,,v2,",
    "v_self,1,alice,accept,,v2,",
    "v_repeat,1,carol,accept,,v2,",
    "v_repeat,2,carol,accept,,v2,",
    "v_taxon,1,carol,accept,,v2,",
    "v_super,1,carol,accept,,,",
    "v_model,1,carol,fix,tighter box,v2,",
    "v_reject,1,carol,reject,wrong class,v2,",
    "e1,1,carol,reject,loose,v2,",
    "v_force,1,carol,accept,,v2,",
    "v_zero,1,carol,accept,,v2,",
    "v_out,1,carol,accept,,v2,",
    "v_dup,1,carol,accept,,v2,",
]
HEADER = "label_id,pass,reviewer_id,verdict,reason,guideline_version,revision\n"


def build(tmp: Path, *, violations: bool) -> Repo:
    """An uncommitted repository: the clean data, plus one violation of each kind when
    ``violations``. ``tmp/policy.toml`` holds the policy."""
    make_git(tmp / "repo")
    repo = Repo.init(tmp / "repo")
    released = {v: datetime.fromisoformat(t) for v, t in (("v1", V1_RELEASED), ("v2", V2_RELEASED))}
    repo.add_guideline("v1", classes=["car", "person", "bike"], released_at=released["v1"])
    doc = tmp / "guideline-v2.md"
    doc.write_text("# Guideline v2\nBoxes are tight.\n")
    classes = ["car", "person", "bike", "truck"] + (["bus"] if violations else [])
    repo.add_guideline("v2", classes=classes, doc=doc, released_at=released["v2"])
    for who in ("alice", "bob", "carol", "dave", "erin"):
        repo.add_annotator(who)
    repo.add_annotator("det", kind="model")
    assets = [{"record": "asset", "asset_id": "a.jpg", "width": 100, "height": 100},
              {"record": "asset", "asset_id": "b.jpg", "width": 100, "height": 100,
               "empty": True}]  # looked at, nothing to label  # fmt: skip
    if violations:  # an unlabelled image, and one image in two splits
        assets += [{"record": "asset", "asset_id": "u.jpg", "width": 100, "height": 100},
                   *({"record": "asset", "asset_id": name, "split": split, "empty": True,
                      "sha256": "ab" * 32} for name, split in (("s1.jpg", "train"),
                                                              ("s2.jpg", "test")))]  # fmt: skip
    labels = CLEAN_LABELS + (BAD_LABELS if violations else [])
    repo.import_("native", write_jsonl(tmp / "labels.jsonl", assets + labels), mode="patch")
    reviews = CLEAN_REVIEWS + (BAD_REVIEWS if violations else [])
    (tmp / "reviews.csv").write_text(HEADER + "\n".join(reviews) + "\n")
    repo.import_reviews(tmp / "reviews.csv")
    if violations:  # v_edited loses its pass; e1 is fixed by erin and reviewed again
        edits = [_label("v_edited", bbox=[11, 10, 20, 20]),
                 _label("e1", annotator="erin", bbox=[12, 10, 20, 20])]  # fmt: skip
        repo.import_("native", write_jsonl(tmp / "edits.jsonl", edits), mode="patch")
        (tmp / "reviews2.csv").write_text(HEADER + "e1,1,carol,accept,,v2,\n")
        repo.import_reviews(tmp / "reviews2.csv")
    (tmp / "policy.toml").write_text(POLICY)
    return repo


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    return build(tmp, violations=True), tmp / "policy.toml"


@pytest.fixture(scope="module")
def bad_result(bad):
    repo, policy = bad
    return repo.audit(None, policy=load_policy(policy))


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean")
    return build(tmp, violations=False), tmp / "policy.toml"


# ---------------------------------------------------------------- the checks


def test_one_violation_of_each_kind_gives_exactly_those_findings(bad_result):
    got = {f.check: f for f in bad_result.findings}
    assert set(got) == set(EXPECTED)
    for check, example in EXPECTED.items():
        assert (got[check].count, got[check].examples) == (1, [example]), check
    assert got["trace.asset"].severity == "warning"
    assert got["trace.reviewer"].severity == "warning"
    assert got["geometry.outside"].severity == got["geometry.duplicate"].severity == "warning"
    assert got["coverage.unlabelled"].severity == "warning"
    assert bad_result.counts == {"error": 18, "warning": 5, "info": 0}
    assert not bad_result.passed and bad_result.exit_code == 1
    assert bad_result.labels_audited == len(CLEAN_LABELS) + len(BAD_LABELS)


def test_clean_dataset_passes(clean):
    repo, policy = clean
    result = repo.audit(None, policy=load_policy(policy))
    assert result.findings == []
    assert result.passed and result.exit_code == 0
    statuses = {c.id: c.status for c in result.checks}
    optional = {*audit_run.HOOKS, "sample.accepted"}  # sample.accepted: off unless required
    assert {s for cid, s in statuses.items() if cid not in optional} == {"pass"}
    assert statuses["integrity"] == "pass" and statuses["limits.agreement"] == "off"
    assert statuses["sample.accepted"] == "off"
    assert result.covered == result.labels_audited == len(CLEAN_LABELS)


def test_each_finding_sql_lists_all_of_them_in_the_user_sandbox(bad, bad_result):
    repo, _ = bad
    with repo.at(None) as snap:
        for f in bad_result.findings:
            rows = snap.sql(f.sql).fetchall()  # the sandbox users' `lineage query` goes through
            assert len(rows) == f.count, f.check
            assert str(rows[0][0]) == EXPECTED[f.check]


def test_check_function_and_sql_twin(bad):
    repo, policy_file = bad
    policy = load_policy(policy_file)
    with repo.at(None) as snap:
        finding = run_check(snap.con, "coverage.passes", policy)
    assert finding.sql == coverage_sql(policy).strip()
    assert finding.examples == ["v_cover"]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT a FROM t\nORDER BY a", "SELECT a FROM t"),
        (
            "SELECT a FROM t WHERE x IN (SELECT y FROM u) ORDER BY a, b DESC",
            "SELECT a FROM t WHERE x IN (SELECT y FROM u)",
        ),
        ("SELECT a FROM t ORDER BY a LIMIT 3", None),  # the order picks the rows
        ("SELECT * FROM (SELECT a FROM t ORDER BY a)", None),  # not the outermost
        ("SELECT a FROM t ORDER BY coalesce(a, b)", None),  # parentheses: left alone
    ],
)
def test_checks_count_their_findings_unordered(sql, expected):
    # a check's findings are counted without its ORDER BY (sorting millions of them ran
    # out of a 2 GB budget at 10 M labels); the examples are ordered on their own
    from lineage.audit.checks import unordered

    assert unordered(sql) == (sql if expected is None else expected)


def test_figures(bad_result):
    by_class = {r["class_name"]: r for r in bad_result.coverage_by_class}
    assert by_class["person"]["required_passes"] == 2
    assert (by_class["car"]["labels"], by_class["car"]["covered"]) == (20, 18)
    rates = {r["annotator_id"]: r for r in bad_result.rejection_by_annotator}
    assert (rates["erin"]["reviewed"], rates["erin"]["rejected"]) == (2, 1)
    assert rates["bob"]["rejection_rate"] == pytest.approx(1 / 3)
    per_gl = {r["guideline_version"]: (r["labels"], r["current"]) for r in
              bad_result.labels_by_guideline}  # fmt: skip
    assert per_gl == {"v1": (2, False), "v2": (21, True), None: (1, False)}


def test_policy_switches_and_severities(bad):
    repo, _ = bad
    policy = parse_policy(
        {
            "required_passes": 0,
            "model_labels_need_human_accept": False,
            "separation_of_duties": {"no_self_review": False},
            "severity": {"trace.asset": "off", "review.rejected": "info"},
        }
    )
    result = repo.audit(None, policy=policy)
    got = {f.check: f for f in result.findings}
    for off in ("trace.asset", "model.human_accept", "duties.self_review", "coverage.passes",
                "coverage.edited_after_review", "limits.rejection_rate"):  # fmt: skip
        assert off not in got
    assert got["review.rejected"].severity == "info"
    assert got["duties.repeat_reviewer"].examples == ["v_repeat"]
    # without current_guideline, the version released last (v2) is current
    assert got["guideline.superseded"].examples == ["v_super"]
    status = {c.id: c.status for c in result.checks}
    assert status["trace.asset"] == "off" and status["model.human_accept"] == "off"


def test_hook_fills_the_integrity_slot(bad):
    repo, policy = bad

    def verify(snap, policy, examples, verified):
        return [Finding("integrity", "Segment hash mismatch", "error", "segment", 1,
                        ["seg-1"], "SELECT 1", "tampered")]  # fmt: skip

    audit_run.register_hook("integrity", verify)
    try:
        result = repo.audit(None, policy=Policy(severity={"trace.asset": "off"}))
    finally:
        audit_run.register_hook("integrity", None)
    status = {c.id: (c.status, c.count) for c in result.checks}
    assert status["integrity"] == ("fail", 1)
    assert any(f.check == "integrity" for f in result.findings)
    with pytest.raises(KeyError):
        audit_run.register_hook("nope", verify)


# ---------------------------------------------------------------- the policy file


def test_policy_defaults_and_hash(tmp_path):
    assert load_policy(root=tmp_path) == Policy()
    a = tmp_path / "a.toml"
    a.write_text(POLICY)
    b = tmp_path / "b.toml"  # same demands, no [policy] header, other order, comments
    b.write_text(
        "# mine\ncurrent_guideline = 'v2'\nrequired_passes = 1\nreview_after_merge = true\n"
        "[limits]\nmin_labels_per_class = 1\nmax_rejection_rate = 0.4\n"
        "[class_passes]\nperson = 2\n"
    )
    pa, pb = load_policy(a), load_policy(b)
    assert pa.sha256 == pb.sha256 and re.fullmatch("[0-9a-f]{64}", pa.sha256)
    assert pa.passes_for("person") == 2 and pa.passes_for("car") == 1
    assert parse_policy(pa.as_dict()).sha256 == pa.sha256
    assert load_policy(a).sha256 != Policy().sha256
    _validate(pa.as_dict(), _schema("policy.json"))


def test_policy_section_of_lineage_toml(tmp_path):
    (tmp_path / "lineage.toml").write_text('[store]\npath = "annotations"\n\n' + POLICY)
    policy = load_policy(root=tmp_path)
    assert policy.current_guideline == "v2" and policy.max_rejection_rate == 0.4
    (tmp_path / "lineage.toml").write_text("[policy]\nrequired_pases = 2\n")
    with pytest.raises(InputError) as err:
        load_policy(root=tmp_path)
    assert err.value.field == "policy.required_pases"
    assert err.value.file == str(tmp_path / "lineage.toml")


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("required_passes = -1", "required_passes", "whole number >= 0"),
        ("required_passes = true", "required_passes", "whole number"),
        ("[class_passes]\nperson = 1.5", "class_passes.person", "whole number"),
        ("[limits]\nmax_rejection_rate = 1.5", "limits.max_rejection_rate", "[0, 1]"),
        ("[limits]\nmin_agreement = 'high'", "limits.min_agreement", "[-1, 1]"),
        ("[limits]\nmax_rate = 0.1", "limits.max_rate", "unknown key"),
        ("[separation_of_duties]\nno_self_review = 'yes'",
         "separation_of_duties.no_self_review", "true or false"),
        ("[severity]\n'trace.asset' = 'fatal'", "severity.trace.asset", "error, warning"),
        ("[severity]\n'trace.nope' = 'error'", "severity.trace.nope", "unknown check"),
        ("current_guideline = 2", "current_guideline", "guideline version"),
        ("limits = 3", "limits", "must be a table"),
        ("[limits]\nmax_rejection_rate = nan", "limits.max_rejection_rate", "finite"),
    ],
)  # fmt: skip
def test_bad_policy_names_file_and_key(tmp_path, text, field, words):
    path = tmp_path / "policy.toml"
    path.write_text(text + "\n")
    with pytest.raises(InputError) as err:
        load_policy(path)
    assert err.value.file == str(path) and err.value.field == field
    assert words in str(err.value)


def test_unreadable_policy_files(tmp_path):
    with pytest.raises(InputError, match="policy file not found"):
        load_policy(tmp_path / "missing.toml")
    (tmp_path / "broken.toml").write_text("required_passes = \n")
    with pytest.raises(InputError, match="not valid TOML") as err:
        load_policy(tmp_path / "broken.toml")
    assert err.value.file == str(tmp_path / "broken.toml")


def test_example_policies_are_valid():
    root = Path(__file__).resolve().parents[1]
    for path in (root / "examples" / "policy.toml", root / "lineage" / "examples" / "policy.toml"):
        policy = load_policy(path)
        assert policy.current_guideline == "v2"
        _validate(policy.as_dict(), _schema("policy.json"))


# ---------------------------------------------------------------- reports


def test_json_report_follows_its_schema(bad_result):
    doc = json.loads(render_report(bad_result, "json"))
    _validate(doc, _schema("audit_report.json"))
    assert doc["summary"]["passed"] is False
    assert doc["summary"]["findings_by_severity"] == {"error": 18, "warning": 5, "info": 0}
    assert doc["policy"]["sha256"] == bad_result.policy.sha256
    assert [f["check"] for f in doc["findings"]] == [
        c.id for c in CHECKS if c.id in EXPECTED
    ]  # report order
    assert {c["id"] for c in doc["checks"]} == set(CHECK_IDS)


def test_text_report(bad_result):
    text = render_report(bad_result, "text")
    assert text.startswith("lineage audit: FAILED")
    assert bad_result.policy.sha256 in text
    for check, example in EXPECTED.items():
        assert f"{check}:" in text and example in text


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "link", "img", "hr", "input"):  # HTML void elements
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_html_report_parses_with_plots_and_identity(bad_result):
    doc = render_report(bad_result, "html")
    parser = _Collect()
    parser.feed(doc)
    parser.close()
    assert parser.stack == []  # every element closed, properly nested
    svgs = [a for t, a in parser.tags if t == "svg"]
    assert len(svgs) == 7 and all(a["xmlns"] == "http://www.w3.org/2000/svg" for a in svgs)
    titles = "".join(parser.text)
    for title in ("Review coverage per class", "Rejection rate per annotator",
                  "Labels per guideline version"):  # fmt: skip
        assert title in titles
    meta = {a["name"]: a["content"] for t, a in parser.tags if t == "meta" and "name" in a}
    assert meta["lineage-policy-sha256"] == bad_result.policy.sha256
    assert meta["lineage-version"] == bad_result.tool_version
    assert "lineage-commit" in meta and "lineage-generated-at" in meta
    assert bad_result.policy.sha256 in titles and f"lineage {bad_result.tool_version}" in titles
    # erin is over the 40 % limit: her bar is red, and the limit line is drawn
    assert 'fill="#c0392b"><title>erin: 50 %' in doc
    assert "<title>policy limit 40 %</title>" in doc
    assert "FAILED" in titles


def test_markdown_report_reads_as_plain_text(bad_result):
    md = render_report(bad_result, "markdown")
    text, _, svg_part = md.partition("## Figures as SVG")
    assert re.search(r"<[A-Za-z/!]", text) is None  # no markup before the SVG appendix
    assert "# Label audit: FAILED" in text and bad_result.policy.sha256 in text
    assert "erin   ███████████████···············  1/2" in text
    for check in EXPECTED:
        assert f"`{check}`" in text
    assert svg_part.count("<svg") == 7


def test_bar_chart_helpers():
    assert text_bars([("a", 0.5, "1/2"), ("bb", 1.0, "2/2")], 1.0, width=4).splitlines() == [
        "a   ██··  1/2",
        "bb  ████  2/2",
    ]
    svg = svg_bar_chart("T <x>", [("a&b", 2, "2")], 4)
    assert "T &lt;x&gt;" in svg and "a&amp;b" in svg and 'width="180.0"' in svg
    assert "no data" in svg_bar_chart("empty", [], 1.0)


# ---------------------------------------------------------------- helpers


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def _validate(value, schema: dict) -> None:
    """Validate against our JSON Schemas with the reference validator (jsonschema), the
    policy schema registered so the report's ``$ref`` resolves."""
    import jsonschema
    from referencing import Registry, Resource

    resources = [_schema("policy.json"), _schema("audit_report.json")]
    registry = Registry().with_resources((r["$id"], Resource.from_contents(r)) for r in resources)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, registry=registry).validate(value)


def test_new_checks_follow_their_policy_options(bad):
    """guideline_grace_days, disjoint_splits and the geometry thresholds move exactly
    the findings they govern."""
    repo, policy_file = bad
    base = load_policy(policy_file)

    def found(**changes) -> dict[str, list[str]]:
        from dataclasses import replace

        result = repo.audit(None, policy=replace(base, **changes))
        return {f.check: f.examples for f in result.findings}

    default = found()
    assert default["geometry.outside"] == ["v_out"]
    assert "geometry.outside" not in found(outside_tolerance_px=5.0)  # 3 px past the edge
    assert "geometry.duplicate" not in found(duplicate_iou=1.0)  # IoU 1 is not above 1
    # train and test must be disjoint by default (all splits); not when only train/val are
    assert default["splits.leak"] == ["s1.jpg, s2.jpg"]
    assert "splits.leak" not in found(disjoint_splits=("train", "val"))
    # the v1 labels were made 2026-03-01, while v1 was in force (v2: 2026-06-01)
    assert default["guideline.not_in_force"] == ["v_force"]
    policy = parse_policy({"guideline_grace_days": 30, "disjoint_splits": ["train", "test"],
                           "geometry": {"outside_tolerance_px": 2, "duplicate_iou": 0.9}})  # fmt: skip
    assert (policy.guideline_grace_days, policy.disjoint_splits) == (30, ("train", "test"))
    assert (policy.outside_tolerance_px, policy.duplicate_iou) == (2.0, 0.9)
    assert parse_policy(policy.as_dict()) == policy
    sampled = parse_policy({"require_sample": {"aql": 1, "level": "II"}})
    assert sampled.require_sample == {"aql": 1.0, "level": "II"}
    assert parse_policy(sampled.as_dict()) == sampled
    for bad_value, key in (({"require_sample": {"level": "IV"}}, "require_sample.level"),
                           ({"require_sample": {"aql": 1, "n": 5}}, "require_sample.n"),({"disjoint_splits": "train"}, "disjoint_splits"),
                           ({"geometry": {"duplicate_iou": 2}}, "geometry.duplicate_iou"),
                           ({"guideline_grace_days": -1}, "guideline_grace_days")):  # fmt: skip
        with pytest.raises(InputError) as err:
            parse_policy(bad_value)
        assert err.value.field == key


def test_label_made_after_the_next_release_is_not_in_force(tmp_path):
    make_git(tmp_path / "repo")
    repo = Repo.init(tmp_path / "repo")
    repo.add_guideline("v1", classes=["car"], released_at="2026-01-01")
    repo.add_guideline("v2", classes=["car"], released_at="2026-02-01")
    late = {"asset_id": "a.jpg", "class_name": "car", "bbox": [1, 1, 5, 5],
            "guideline_version": "v1", "created_at": "2026-02-20T00:00:00Z"}  # fmt: skip
    repo.import_("native", write_jsonl(tmp_path / "l.jsonl", [late]))
    only = Policy(severity={c.id: "off" for c in CHECKS if c.id != "guideline.not_in_force"})
    result = repo.audit(None, policy=only)
    (finding,) = result.findings
    assert finding.check == "guideline.not_in_force" and finding.count == 1
    from dataclasses import replace

    assert repo.audit(None, policy=replace(only, guideline_grace_days=30)).findings == []
    with pytest.raises(InputError, match="not an ISO 8601 time"):
        repo.add_guideline("v3", classes=["car"], released_at="next tuesday")


def test_guideline_add_records_a_past_release(tmp_path, cli):
    make_git(tmp_path / "repo")
    repo = Repo.init(tmp_path / "repo")
    (tmp_path / "classes.txt").write_text("car\n")
    res = cli(repo.root, "guideline", "add", "v1", "--classes", str(tmp_path / "classes.txt"),
              "--released-at", "2026-09-15")  # fmt: skip
    assert res.exit_code == 0, res.output
    res = cli(repo.root, "guideline", "list", "--format", "json")
    assert json.loads(res.stdout)[0]["released_at"].startswith("2026-09-15")
    res = cli(repo.root, "guideline", "add", "v2", "--classes", str(tmp_path / "classes.txt"),
              "--released-at", "soon")  # fmt: skip
    assert res.exit_code == 2 and "released_at" in res.stderr and "Traceback" not in res.output
