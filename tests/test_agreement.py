"""Agreement figures over real stores: hand-built object cases with exact figures, class
statistics equal to sklearn / statsmodels / krippendorff on ratings pulled back from the
store, consensus, gold, rejection rate and the IoU of fixes."""

from __future__ import annotations

import math
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from lineage import geometry
from lineage.audit.agreement import annotator_figures as _figures
from lineage.audit.checks import rejection_rates_sql
from lineage.errors import InputError
from lineage.repo import Repo
from tests.conftest import make_git, write_jsonl


def annotator_figures(repo):
    with repo.at() as snap:
        return _figures(snap)


def box(asset, cls, bbox, who, label_id=None, **extra):
    rec = {"asset_id": asset, "class_name": cls, "bbox": bbox, "annotator_id": who, **extra}
    if label_id:
        rec["label_id"] = label_id
    return rec


def image(asset, cls, who, **extra):
    return {"asset_id": asset, "class_name": cls, "annotator_id": who, **extra}


# One image, two annotators: an exact match, a shifted box (IoU 4000/6000), a missed
# object (alice's bike), an extra object (bob's bike) and a class swap (car -> person).
OBJECTS = [
    {"record": "asset", "asset_id": "a1.jpg", "width": 640, "height": 480},
    box("a1.jpg", "car", [0, 0, 100, 100], "alice", "al-car"),
    box("a1.jpg", "person", [200, 200, 50, 100], "alice", "al-person"),
    box("a1.jpg", "bike", [400, 400, 20, 20], "alice", "al-bike"),
    box("a1.jpg", "car", [300, 0, 50, 50], "alice", "al-swap"),
    box("a1.jpg", "car", [0, 0, 100, 100], "bob"),
    box("a1.jpg", "person", [210, 200, 50, 100], "bob"),
    box("a1.jpg", "bike", [600, 10, 20, 20], "bob"),
    box("a1.jpg", "person", [300, 0, 50, 50], "bob"),
]


def figures(table, **keys) -> dict[str, dict]:
    """figure -> row, for the rows whose key columns equal ``keys``."""
    rows = table.to_pylist()
    return {r["figure"]: r for r in rows if all(r[k] == v for k, v in keys.items())}


def load(repo, tmp_path: Path, records: list[dict], name: str = "labels.jsonl", **kw):
    return repo.import_("native", write_jsonl(tmp_path / name, records), **kw)


@pytest.fixture(scope="module")
def objects_repo(tmp_path_factory):
    """One store for the read-only object tests (a git + DVC init is dear)."""
    root = tmp_path_factory.mktemp("objects")
    make_git(root / "repo")
    repo = Repo.init(root / "repo")
    load(repo, root, OBJECTS)
    return repo


def test_object_matching_exact_figures(objects_repo):
    f = figures(objects_repo.agreement(by="pair"), annotator_a="alice", annotator_b="bob")
    assert f["shared_assets"]["value"] == 1 and f["shared_assets"]["note"] is None
    # 3 matched (exact, shifted, swapped), 1 missed, 1 extra
    assert f["object_precision"]["value"] == 0.75 and f["object_precision"]["n_items"] == 4
    assert f["object_recall"]["value"] == 0.75 and f["object_recall"]["n_items"] == 4
    assert f["object_f1"]["value"] == 0.75 and f["object_f1"]["n_items"] == 5
    assert f["object_mean_iou"]["value"] == pytest.approx((1 + 4000 / 6000 + 1) / 3, abs=1e-12)
    assert f["object_mean_iou"]["n_items"] == 3
    assert f["object_class_agreement"]["value"] == pytest.approx(2 / 3)
    kappa = cohen_kappa_score(["car", "person", "car"], ["car", "person", "person"])
    assert f["object_class_kappa"]["value"] == pytest.approx(kappa, abs=1e-9)
    assert "rests on only 3 items" in f["object_class_kappa"]["note"]
    assert "image_class_kappa" not in f  # no image-level labels


def test_object_matching_threshold(objects_repo):
    # at 0.7 the shifted box (IoU 2/3) no longer matches: a miss and an extra more
    f = figures(objects_repo.agreement(by="pair", iou_threshold=0.7))
    assert f["object_precision"]["value"] == 0.5
    assert f["object_f1"]["n_items"] == 6
    assert f["object_mean_iou"]["value"] == 1.0


def test_objects_by_class(objects_repo):
    t = objects_repo.agreement(by="class")
    car, person, bike = (figures(t, class_name=c) for c in ("car", "person", "bike"))
    # only same-class pairs match: car 1 of alice's 2, person 1 of bob's 2, bike none
    assert (car["object_precision"]["value"], car["object_recall"]["value"]) == (1.0, 0.5)
    assert (person["object_precision"]["value"], person["object_recall"]["value"]) == (0.5, 1.0)
    assert person["object_mean_iou"]["value"] == pytest.approx(4000 / 6000)
    assert bike["object_f1"]["value"] == 0.0
    assert math.isnan(bike["object_mean_iou"]["value"])
    assert bike["object_mean_iou"]["note"] == "no matched objects"


# ---------------------------------------------------------------- class statistics


RATERS = ("alice", "bob", "carol")
CATEGORIES = ("day", "dusk", "night")


def rating_records(seed: int, n_assets: int = 45) -> list[dict]:
    """Image-level classes by three raters who mostly agree; some ratings missing."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n_assets):
        truth = int(rng.integers(0, 3))
        for who in RATERS:
            if rng.random() < 0.2:
                continue
            cls = truth if rng.random() < 0.7 else int(rng.integers(0, 3))
            records.append(image(f"img{i:03d}.jpg", CATEGORIES[cls], who))
    return records


@pytest.mark.parametrize("seed", [1, 2])
def test_class_statistics_equal_the_references(repo, tmp_path, seed):
    load(repo, tmp_path, rating_records(seed))
    with repo.at(None) as snap:
        rows = snap.con.sql(
            "SELECT asset_id, annotator_id, class_name FROM labels WHERE shape = 'classification'"
        ).fetchall()
    assets = sorted({a for a, _, _ in rows})
    grid = np.full((len(RATERS), len(assets)), np.nan)  # raters x units, category codes
    for a, who, cls in rows:
        grid[RATERS.index(who), assets.index(a)] = CATEGORIES.index(cls)

    by_pair = repo.agreement(by="pair")
    for i, j in ((0, 1), (0, 2), (1, 2)):
        both = ~np.isnan(grid[i]) & ~np.isnan(grid[j])
        f = figures(by_pair, annotator_a=RATERS[i], annotator_b=RATERS[j])
        expected = cohen_kappa_score(grid[i, both], grid[j, both])
        assert f["image_class_kappa"]["value"] == pytest.approx(expected, abs=1e-9)
        assert f["image_class_kappa"]["n_items"] == both.sum()
        assert f["image_class_agreement"]["value"] == pytest.approx(
            np.mean(grid[i, both] == grid[j, both])
        )

    overall = figures(repo.agreement(by="class"), class_name=None)
    alpha = krippendorff.alpha(reliability_data=grid, level_of_measurement="nominal")
    assert overall["image_krippendorff_alpha"]["value"] == pytest.approx(alpha, abs=1e-9)
    # Fleiss over the items with the most common number of raters
    n_raters = (~np.isnan(grid)).sum(axis=0)
    m = max(set(n_raters.tolist()) - {0, 1}, key=lambda k: ((n_raters == k).sum(), k))
    items = grid[:, n_raters == m]
    counts = np.stack([(items == c).sum(axis=0) for c in range(3)], axis=1)
    fleiss = overall["image_fleiss_kappa"]
    assert fleiss["value"] == pytest.approx(sm_fleiss_kappa(counts, method="fleiss"), abs=1e-9)
    assert fleiss["n_items"] == counts.shape[0]
    assert f"rated by exactly {m} annotators" in fleiss["note"]


def test_one_vs_rest_alpha_per_class(repo, tmp_path):
    load(repo, tmp_path, rating_records(3))
    with repo.at(None) as snap:
        rows = snap.con.sql(
            "SELECT asset_id, annotator_id, class_name FROM labels WHERE shape = 'classification'"
        ).fetchall()
    assets = sorted({a for a, _, _ in rows})
    grid = np.full((len(RATERS), len(assets)), np.nan)
    for a, who, cls in rows:
        grid[RATERS.index(who), assets.index(a)] = float(cls == "night")
    night = figures(repo.agreement(by="class"), class_name="night")
    expected = krippendorff.alpha(reliability_data=grid, level_of_measurement="nominal")
    assert night["image_alpha_one_vs_rest"]["value"] == pytest.approx(expected, abs=1e-9)


def test_consensus(repo, tmp_path):
    load(repo, tmp_path, [
        # i1: carol alone says night: she disagrees with the others' majority, day
        image("i1", "day", "alice"), image("i1", "day", "bob"), image("i1", "night", "carol"),
        image("i1", "day", "dave"),
        # i2: all day
        image("i2", "day", "alice"), image("i2", "day", "bob"), image("i2", "day", "carol"),
        # i3: three different answers: the others of each are a tie, no consensus
        image("i3", "day", "alice"), image("i3", "dusk", "bob"), image("i3", "night", "carol"),
        # i4: alice alone with bob; bob's answer is the others' consensus for alice
        image("i4", "night", "alice"), image("i4", "dusk", "bob"),
    ])  # fmt: skip
    t = repo.agreement(by="annotator")
    alice, carol = figures(t, annotator_id="alice"), figures(t, annotator_id="carol")
    assert alice["consensus_agreement"]["value"] == pytest.approx(2 / 3)
    assert alice["consensus_agreement"]["n_items"] == 3  # i1, i2, i4 (i3 is a tie)
    kappa = cohen_kappa_score(["day", "day", "night"], ["day", "day", "dusk"])
    assert alice["consensus_kappa"]["value"] == pytest.approx(kappa, abs=1e-9)
    assert carol["consensus_agreement"]["value"] == 0.5  # i1 no, i2 yes
    assert carol["consensus_agreement"]["n_items"] == 2


# ---------------------------------------------------------------- gold, reviews, fixes


def test_gold_from_label_studio_ground_truth(repo, tmp_path):
    gold = {"attributes": {"gold": True}}
    load(repo, tmp_path, [
        box("g1", "car", [0, 0, 10, 10], "lead", **gold),
        box("g1", "car", [20, 0, 10, 10], "lead", **gold),
        box("g1", "car", [0, 0, 10, 10], "bob"),          # matches the first gold box
        box("g1", "car", [1, 0, 10, 10], "carol"),        # IoU 90/110 with the first
        box("g1", "car", [20, 0, 10, 10], "carol"),
        box("g1", "car", [50, 50, 10, 10], "carol"),      # extra
        image("g2", "night", "lead", **gold),
        image("g2", "night", "bob"),
        image("g2", "day", "carol"),
    ])  # fmt: skip
    t = repo.agreement(by="annotator")
    bob, carol, lead = (figures(t, annotator_id=w) for w in ("bob", "carol", "lead"))
    assert (bob["gold_object_precision"]["value"], bob["gold_object_recall"]["value"]) == (1, 0.5)
    assert carol["gold_object_precision"]["value"] == pytest.approx(2 / 3)
    assert carol["gold_object_recall"]["value"] == 1.0
    assert carol["gold_object_mean_iou"]["value"] == pytest.approx((90 / 110 + 1) / 2)
    assert bob["gold_class_agreement"]["value"] == 1.0
    assert carol["gold_class_agreement"]["value"] == 0.0
    assert not any(k.startswith("gold") for k in lead)  # gold is not scored against itself


def test_gold_reviews_rejections_and_fixes(repo, tmp_path):
    load(repo, tmp_path, [
        box("a.jpg", "car", [0, 0, 10, 10], "alice", "l1"),
        box("a.jpg", "car", [20, 0, 10, 10], "alice", "l2"),
        box("a.jpg", "car", [40, 0, 10, 10], "alice", "l3"),
        box("a.jpg", "car", [60, 0, 10, 10], "alice", "l4"),
        box("b.jpg", "car", [0, 0, 10, 10], "bob", "l5"),
        {"record": "asset", "asset_id": "a.jpg", "width": 100, "height": 100},
    ])  # fmt: skip
    (tmp_path / "reviews.csv").write_text(
        "label_id,pass,reviewer_id,verdict,kind\n"
        "l1,1,rita,accept,review\n"
        "l2,1,rita,reject,review\n"
        "l2,2,sam,accept,review\n"  # rejected once: counts as rejected
        "l3,1,rita,fix,review\n"
        "l4,1,rita,accept,review\n"
        "l5,1,rita,accept,review\n"
        "l1,1,gina,accept,gold\n"
        "l2,1,gina,reject,gold\n"
        "l3,1,gina,accept,gold\n"
    )
    repo.import_reviews(tmp_path / "reviews.csv")
    # the reviewer redraws l2 and l3 (revision 2 by rita); l4 is edited by alice herself
    load(repo, tmp_path, [
        box("a.jpg", "car", [25, 0, 10, 10], "rita", "l2"),  # IoU 50/150 with revision 1
        box("a.jpg", "car", [40, 0, 10, 10], "rita", "l3"),  # unchanged geometry: IoU 1
        box("a.jpg", "car", [61, 0, 10, 10], "alice", "l4"),
    ], name="fixes.jsonl", mode="patch")  # fmt: skip
    t = repo.agreement(by="annotator")
    alice, bob = figures(t, annotator_id="alice"), figures(t, annotator_id="bob")
    assert alice["rejection_rate"]["value"] == 0.25 and alice["rejection_rate"]["n_items"] == 4
    assert alice["fix_rate"]["value"] == 0.25
    assert alice["gold_review_agreement"]["value"] == pytest.approx(2 / 3)
    assert alice["gold_review_agreement"]["n_items"] == 3
    assert alice["fix_mean_iou"]["value"] == pytest.approx((50 / 150 + 1) / 2)
    assert alice["fix_mean_iou"]["n_items"] == 2
    assert bob["rejection_rate"]["value"] == 0.0
    assert "rita" not in {r["annotator_id"] for r in t.to_pylist()}  # a fixer is no rater
    # the same rejection rates as the audit's limits.rejection_rate check
    with repo.at(None) as snap:
        audit = {r[0]: (r[1], r[3]) for r in snap.con.sql(rejection_rates_sql()).fetchall()}
    figs = annotator_figures(repo)
    assert {
        k: (v["n_reviewed"], v["rejection_rate"]) for k, v in figs.items() if v["n_reviewed"]
    } == audit


def test_fixes_do_not_count_as_the_fixers_labels(repo, tmp_path):
    load(repo, tmp_path, OBJECTS)
    # bob's exact car is later moved by a reviewer: agreement still compares bob's own box
    with repo.at(None) as snap:
        [(bob_car,)] = snap.con.execute(
            "SELECT label_id FROM labels WHERE annotator_id = 'bob' AND class_name = 'car'"
        ).fetchall()
    load(repo, tmp_path, [box("a1.jpg", "car", [50, 50, 100, 100], "rita", bob_car)],
         name="fix.jsonl", mode="patch")  # fmt: skip
    t = repo.agreement(by="pair")
    assert {(r["annotator_a"], r["annotator_b"]) for r in t.to_pylist()} == {("alice", "bob")}
    assert figures(t)["object_f1"]["value"] == 0.75


def test_model_labels_are_not_raters(repo, tmp_path):
    load(repo, tmp_path, [
        *OBJECTS,
        box("a1.jpg", "car", [0, 0, 100, 100], "det-v1", source="model", model_version="det-v1"),
    ])  # fmt: skip
    pairs = {(r["annotator_a"], r["annotator_b"]) for r in repo.agreement().to_pylist()}
    assert pairs == {("alice", "bob")}


def test_annotator_figures(objects_repo):
    figs = annotator_figures(objects_repo)
    assert set(figs) == {"alice", "bob"}
    assert figs["alice"]["agreement_figure"] == "object_f1_vs_others"
    assert figs["alice"]["agreement"] == 0.75 and figs["alice"]["n_items"] == 5
    assert math.isnan(figs["alice"]["rejection_rate"]) and figs["alice"]["n_reviewed"] == 0
    with objects_repo.at(None) as snap:  # an open snapshot, as audit hooks have
        assert _figures(snap)["bob"]["agreement"] == 0.75


def test_nothing_to_compare(repo, tmp_path):
    load(repo, tmp_path, [box("a.jpg", "car", [0, 0, 10, 10], "alice")])
    for by in ("pair", "class"):
        assert repo.agreement(by=by).num_rows == 0
    assert repo.agreement(by="pair").column_names == [
        "annotator_a", "annotator_b", "figure", "value", "n_items", "note",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"by": "asset"}, "by must be one of pair, annotator, class, not 'asset'"),
        ({"iou_threshold": 1.5}, "iou_threshold must be between 0 and 1, not 1.5"),
    ],
)
def test_bad_arguments(objects_repo, kwargs, message):
    with pytest.raises(InputError) as err:
        objects_repo.agreement(**kwargs)
    assert message in err.value.message


def test_label_studio_ground_truth_end_to_end(repo, tmp_path):
    """Two annotations of one task, the first marked ground_truth, through the importer."""
    import json

    def rect(rid, x, label):
        return {"id": rid, "from_name": "label", "to_name": "image", "type": "rectanglelabels",
                "original_width": 200, "original_height": 100,
                "value": {"x": x, "y": 0, "width": 10, "height": 20, "rotation": 0,
                          "rectanglelabels": [label]}}  # fmt: skip

    def choice(rid, label):
        return {"id": rid, "from_name": "scene", "to_name": "image", "type": "choices",
                "value": {"choices": [label]}}  # fmt: skip

    task = {"id": 1, "data": {"image": "/data/upload/1/street.jpg"}, "annotations": [
        {"id": 11, "completed_by": 1, "ground_truth": True,
         "result": [rect("r1", 0, "car"), rect("r2", 50, "person"), choice("c1", "day")]},
        {"id": 12, "completed_by": 2, "ground_truth": False,
         "result": [rect("q1", 0, "car"), choice("c2", "night")]},
    ]}  # fmt: skip
    (tmp_path / "export.json").write_text(json.dumps([task]))
    repo.import_("labelstudio", tmp_path / "export.json")
    second = figures(repo.agreement(by="annotator"), annotator_id="2")
    assert second["gold_object_precision"]["value"] == 1.0
    assert second["gold_object_recall"]["value"] == 0.5  # missed the gold person
    assert second["gold_class_agreement"]["value"] == 0.0  # night, gold says day
    assert "gold_object_f1" not in figures(repo.agreement(by="annotator"), annotator_id="1")


def test_polygons_are_compared_as_masks_at_the_image_size(repo, tmp_path):
    # two triangles halving the same square: their envelopes are equal (IoU 1), their
    # rasterised masks barely overlap, so they must not match
    upper = [[10, 10, 30, 10, 10, 30]]
    lower = [[30, 10, 30, 30, 10, 30]]
    load(repo, tmp_path, [
        {"record": "asset", "asset_id": "p.jpg", "width": 64, "height": 48},
        {"asset_id": "p.jpg", "class_name": "car", "polygon": upper, "annotator_id": "alice"},
        {"asset_id": "p.jpg", "class_name": "car", "polygon": lower, "annotator_id": "bob"},
        box("p.jpg", "person", [40, 0, 10, 10], "alice"),
        box("p.jpg", "person", [40, 0, 10, 10], "bob"),
    ])  # fmt: skip
    with repo.at(None) as snap:
        polys = snap.con.sql(
            "SELECT * FROM labels WHERE shape = 'polygon' ORDER BY annotator_id"
        ).to_arrow_table()
    assert geometry.iou_matrix(polys.slice(0, 1), polys.slice(1, 1), 48, 64)[0, 0] < 0.5
    f = figures(repo.agreement())
    assert (f["object_precision"]["value"], f["object_recall"]["value"]) == (0.5, 0.5)
    assert f["object_mean_iou"]["value"] == 1.0  # only the boxes matched


def test_empty_store(repo):
    for by in ("pair", "annotator", "class"):
        assert repo.agreement(by=by).num_rows == 0
    assert annotator_figures(repo) == {}


def test_benchmark_runs_at_a_tiny_size(tmp_path):
    """benchmarks/agreement_bench.py end to end on 40 images (a smoke test, no timing)."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.agreement_bench", "--assets", "40",
         "--keep", str(tmp_path / "bench")],
        cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for line in ("agreement --by pair:", "agreement --by class:", "stats:", "rejection_rate"):
        assert line in proc.stdout
