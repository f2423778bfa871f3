"""Build a small example repository from the bundled data: two dataset versions with
reviews, a guideline change, a relabel, a moved box, a delete and additions."""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from lineage.errors import InputError

if TYPE_CHECKING:
    from lineage.repo import Repo


@dataclass(frozen=True)
class DemoResult:
    root: Path
    versions: list[str]
    example_label: str
    example_asset: str


def examples_dir() -> Path:
    return Path(str(resources.files("lineage") / "examples"))


# Each version commits its audit figures (findings, coverage, and the label
# distributions per class, split, annotator and source), so `dvc metrics diff v1 v2`
# compares them.
METRICS = "metrics/audit.json"
DVC_YAML = f"""# The audit figures of each version, written by `lineage audit --metrics {METRICS}`
# before each commit: `dvc metrics show`, `dvc metrics diff v1 v2`.
metrics:
  - {METRICS}
"""


def _commit_with_metrics(repo: Repo, message: str, tag: str) -> None:
    """Audit what is about to be committed, and commit its metrics with the version."""
    from lineage.show.report import write_metrics

    write_metrics(repo.audit(None), repo.root / METRICS)
    repo.git.index.add([METRICS])
    repo.commit(message, tag=tag)


def build_demo(path: str | Path, *, force: bool = False) -> DemoResult:
    """Create a git repository at ``path`` with two committed versions, v1 and v2."""
    import git

    from lineage.repo import Repo

    root = Path(path)
    if root.exists() and any(root.iterdir()):
        if not force:
            raise InputError(f"{root} exists and is not empty", hint="pass --force to replace it")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    data = root / "example-data"
    shutil.copytree(examples_dir(), data)
    g = git.Repo.init(root)
    with g.config_writer() as cw:
        if not cw.has_option("user", "email"):
            cw.set_value("user", "name", "lineage demo")
            cw.set_value("user", "email", "demo@lineage.invalid")
    repo = Repo.init(root)
    config = root / "lineage.toml"
    config.write_text(config.read_text() + "\n" + (data / "policy.toml").read_text())
    repo.git.index.add(["lineage.toml"])
    with open(data / "annotators.csv", newline="") as fh:
        rows = [{k: v or None for k, v in row.items()} for row in csv.DictReader(fh)]
    repo.add_annotators(rows, source=data / "annotators.csv")
    # released before the labels made under them (the audit checks guideline.not_in_force)
    repo.add_guideline(
        "v1",
        classes=data / "classes.txt",
        doc=data / "guideline-v1.md",
        released_at="2026-09-15T08:00:00Z",
    )
    (root / "dvc.yaml").write_text(DVC_YAML)
    repo.git.index.add(["dvc.yaml"])
    repo.import_("native", data / "labels-v1.jsonl", guideline="v1")
    _commit_with_metrics(repo, "Street scenes: first labelled batch", "v1-unreviewed")
    repo.import_reviews(data / "reviews-v1.csv")
    _commit_with_metrics(repo, "Review pass 1", "v1")
    repo.add_guideline(
        "v2",
        classes=data / "classes-v2.txt",
        doc=data / "guideline-v2.md",
        released_at="2026-11-01T08:00:00Z",
    )
    repo.import_("native", data / "labels-v2.jsonl", guideline="v2", mode="patch")
    repo.import_reviews(data / "reviews-v2.csv")
    _commit_with_metrics(repo, "Fix rejected boxes, scooter class, new labels", "v2")
    return DemoResult(root, ["v1-unreviewed", "v1", "v2"], "ex00000000000004", "street_000.jpg")
