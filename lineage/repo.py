"""The Repo: the Python API every command calls.

repo = Repo.init("path/to/git/repo")
repo.add_guideline("v1", classes=["car", "person"])
repo.import_("native", "labels.jsonl", guideline="v1")
repo.commit("batch 1", tag="v1")
repo.at("v1").sql("select class_name, count(*) from labels group by 1").fetchall()
"""

from __future__ import annotations

import getpass
import json
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa

from lineage.errors import InputError, RepoError
from lineage.formats.base import ImportBatch, ImportOptions, PartsFailed, RecordErrors, Skipped
from lineage.store import checkpoint, duck, ids, staging
from lineage.store import schema as schemas
from lineage.store.files import sha256, write_parquet, write_parquet_batches
from lineage.store.layout import CONFIG_FILE, WORK_DIR, Layout, store_path
from lineage.store.lock import write_lock
from lineage.store.scratch import STREAM_MEMORY, drop_scratch, memory_limit, scratch_dir
from lineage.version import __version__
from lineage.versioning import commit as committing
from lineage.versioning import dvcstore, gitrepo

if TYPE_CHECKING:
    import git

    from lineage.audit.policy import Policy
    from lineage.audit.run import AuditResult
    from lineage.audit.samples import LotDecision, SampleResult
    from lineage.formats.base import ExportResult
    from lineage.query import compaction
    from lineage.query.diff import Diff
    from lineage.query.result import Rows
    from lineage.query.snapshot import Pair, Snapshot
    from lineage.show.evidence import EvidencePack
    from lineage.show.site import Site
    from lineage.versioning.commit import CommitResult
    from lineage.versioning.commits import Commits
    from lineage.versioning.merge import MergeResult, MergeState
    from lineage.versioning.proofs import ConsistencyProof, InclusionProof
    from lineage.versioning.repair import RepairResult
    from lineage.versioning.revision import RevisionFiles
    from lineage.versioning.verify import VerifyResult
    from lineage.versioning.versions import VersionTables

Progress = Callable[[str, int, int | None], None]


# labels per part when a large file is imported in parts (ImportOptions.part_rows): a
# part's tables and checks take a few hundred MB, whatever the file's size
PART_ROWS = 250_000


@dataclass
class TxnResult:
    """What one import, review batch or guideline staged."""

    txn_id: str | None
    rows: dict[str, int] = field(default_factory=dict)
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    matched_by: dict[str, int] = field(default_factory=dict)
    moved_iou: list[float] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mode: str | None = None  # the import mode used (snapshot or patch)
    deleted_assets: int = 0  # images whose labels a snapshot import deletes
    events: pa.Table | None = None  # with dry_run: the label events it would stage

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["skipped"] = [asdict(s) for s in self.skipped]
        d.pop("events", None)
        return d


@dataclass(frozen=True)
class StatusInfo:
    commit: str | None
    staged: list[dict[str, Any]]
    counts: dict[str, int]
    notes: list[str]
    merge: dict[str, Any] | None = None  # a merge in progress


class Repo:
    """A git repository with a lineage label store."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.layout = Layout.of(self.root)
        self._git = None
        self._commits: Commits | None = None
        self._config: tuple[tuple[int, int] | None, dict[str, Any]] | None = None
        self._versions: dict[str | None, VersionTables] = {}  # commit -> versions (cached)
        self.notes: list[str] = []  # what recovery did, for the CLI to show
        self._merging = False  # a merge is writing its own transaction

    # ------------------------------------------------------------------ set-up

    @classmethod
    def init(cls, path: str | Path = ".", store: str = "annotations") -> Repo:
        """Set up DVC (if absent) and the label store in a git repository. Safe to run twice."""
        root = gitrepo.find_root(Path(path))
        store_path(root, store)  # refuse a store outside the repository before writing
        dvcstore.init(root)
        config = root / CONFIG_FILE
        if not config.exists():
            config.write_text(f'[store]\npath = "{store}"\n')
        ignore = root / ".gitignore"
        lines = ignore.read_text().splitlines() if ignore.exists() else []
        if f"/{WORK_DIR}/" not in lines:
            ignore.write_text("\n".join([*lines, f"/{WORK_DIR}/"]) + "\n")
        repo = cls(root)
        repo.layout.work.mkdir(exist_ok=True)
        git = repo.git
        from lineage.versioning.merge import ATTRIBUTES, install_driver

        install_driver(git, repo.layout)  # a plain `git merge` of two stores then refuses
        files = [CONFIG_FILE, ".gitignore", ".dvc/config", ".dvc/.gitignore", ".dvcignore"]
        files.append(ATTRIBUTES)
        git.index.add(files)
        repo.notes.append(
            f'staged for git: {", ".join(files)}; commit them: git commit -m "Set up lineage"'
        )
        return repo

    @classmethod
    def open(cls, path: str | Path = ".") -> Repo:
        root = gitrepo.find_root(Path(path))
        if not (root / CONFIG_FILE).exists() or not (root / ".dvc").is_dir():
            raise RepoError(f"no lineage store in {root}", hint="run `lineage init` first")
        if (root / WORK_DIR).exists() and gitrepo.tracked(root, WORK_DIR):
            raise RepoError(
                f"{WORK_DIR}/ is tracked by git: a repository must not ship staged work, "
                "a commit journal or the readers' memo",
                hint=f"git rm -r --cached {WORK_DIR} && git commit",
            )
        return cls(root)

    @property
    def config(self) -> dict[str, Any]:
        """lineage.toml, parsed once per state of the file (an edit shows up at once)."""
        from lineage.store.layout import read_config

        path = self.root / CONFIG_FILE
        try:
            st = path.stat()
            key: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            key = None
        if self._config is None or self._config[0] != key or key is None:
            self._config = (key, read_config(self.root))
        return self._config[1]

    @property
    def git(self) -> git.Repo:
        if self._git is None:
            self._git = gitrepo.open_git(self.root)
        return cast("git.Repo", self._git)

    @property
    def commits(self) -> Commits:
        """What readers ask git, without gitpython when ``.git`` and the memo answer."""
        if self._commits is None:
            from lineage.versioning.commits import Commits

            self._commits = Commits(self.layout, lambda: self.git)
        return self._commits

    # ------------------------------------------------------------------ reading

    def at(
        self, rev: str | None = None, *, threads: int | None = None, in_place: bool = True
    ) -> Snapshot:
        """Open revision ``rev`` (tag, branch, SHA, HEAD~2; None = HEAD plus staged work).
        ``in_place``: segments the cache lacks are read on an object-storage remote
        where they are (``remote_reads``); writers and proofs pass False (they need
        every file in the cache)."""
        from lineage.versioning.revision import resolve

        files = resolve(self.layout, self.commits, rev, in_place=in_place)
        return self._open(files, threads=threads)

    def pair(self, a: str | None, b: str | None = None, *, threads: int | None = None) -> Pair:
        """Open two revisions at once: schema ``a`` holds A's views, schema ``b`` (and the
        default schema) B's, so SQL can compare them (``a.labels`` vs ``b.labels``)."""
        from lineage.versioning.revision import resolve

        files_a = resolve(self.layout, self.commits, a, in_place=True)
        files_b = resolve(self.layout, self.commits, b, in_place=True)
        return cast("Pair", self._open(files_b, threads=threads, base=files_a))

    def revision(self, rev: str | None = None) -> tuple[RevisionFiles, VersionTables]:
        """The files of ``rev`` (checked against their hashes) and the versions tables:
        what another engine (``lineage.engines.spark``) builds the views from."""
        from lineage.versioning.revision import resolve

        files = resolve(self.layout, self.commits, rev)
        return files, self._version_tables(files.commit)

    def _version_tables(self, commit: str | None) -> VersionTables:
        from lineage.versioning import versions

        if commit not in self._versions:  # one git walk per commit (tags added meanwhile
            # by another process show up in a new Repo object)
            self._versions[commit] = versions.version_tables(self.layout, self.commits, commit)
        return self._versions[commit]

    def _open(
        self,
        files: RevisionFiles,
        *,
        threads: int | None = None,
        base: RevisionFiles | None = None,
        memory: int | None = None,
    ) -> Snapshot:
        """A sandboxed Snapshot whose views show ``files`` (a Pair with ``base`` as A);
        ``memory``: DuckDB may take at most this many bytes (it spills past them)."""
        from lineage.query.connection import connect
        from lineage.query.snapshot import Pair, Snapshot
        from lineage.versioning.merge import conflicts_view

        temp = scratch_dir(self.layout)
        try:
            con, views = connect(
                files,
                versions=lambda: self._version_tables(files.commit),
                temp_dir=temp,
                memory_limit=memory_limit(self.config, memory),
                threads=threads,
                base=base,
                conflicts=conflicts_view(self.layout),
            )
        except BaseException:
            drop_scratch(temp)
            raise
        if base is not None:
            return Pair(base, files, con, views, temp_dir=temp)
        return Snapshot(files, con, views, temp_dir=temp)

    def query(
        self,
        sql: str,
        rev: str | None = None,
        *,
        diff: tuple[str, str | None] | None = None,
        timeout: float | None = None,
    ) -> Rows:
        """Run read-only user SQL on a revision. With ``diff=(A, B)`` the SQL sees A's
        views in schema ``a``, B's in ``b`` and the default schema, and a ``diff`` view
        of the changes A -> B. ``timeout`` (seconds) covers fetching every row."""
        from lineage.query.result import Rows

        snap: Snapshot = self.pair(*diff) if diff else self.at(rev)
        with _closed_on_error(snap):
            if diff:
                from lineage.query.diff import create_view

                create_view(snap)
            return Rows(snap, sql, relation=snap.sql(sql, timeout=timeout))

    def guidelines(self, rev: str | None = None) -> Rows:
        """The guideline versions of a revision, oldest release first."""
        return self.query(
            "SELECT version, released_at, doc_name, doc_sha256, classes "
            "FROM guidelines ORDER BY released_at",
            rev,
        )

    def annotators(self, rev: str | None = None) -> Rows:
        """The registered annotators (people and models) of a revision."""
        return self.query("SELECT annotator_id, kind, name, team FROM annotators ORDER BY 1", rev)

    def diff(
        self,
        a: str | None,
        b: str | None = None,
        *,
        iou_threshold: float = 0.5,
        classes: Sequence[str] = (),
        annotators: Sequence[str] = (),
        fast: bool | None = None,
    ) -> Diff:
        """Labels changed from revision ``a`` to ``b`` (None: HEAD plus staged): one row
        each with kinds, iou, before, after. The Diff holds the relation and its other
        forms (``rows("summary")``, ...); close it when done (see lineage.query.diff)."""
        from lineage.query.diff import open_diff

        pair = self.pair(a, b)
        with _closed_on_error(pair):
            return open_diff(
                pair,
                iou_threshold=iou_threshold,
                classes=classes,
                annotators=annotators,
                fast=fast,
            )

    def history(
        self,
        label_id: str | None = None,
        rev: str | None = None,
        *,
        external_id: str | None = None,
        form: str = "nested",
    ) -> Rows:
        """Every revision of a label, oldest first. ``form``: ``nested`` (reviews nested
        in each revision), ``rows`` (one row per revision or review), ``compact`` (the
        same, shorter, for people)."""
        from lineage.query import history
        from lineage.query.result import Rows

        forms = ("nested", "rows", "compact")
        if form not in forms:
            raise InputError(f"form must be one of {', '.join(forms)}, not '{form}'", field="form")
        snap = self.at(rev)
        with _closed_on_error(snap):
            label_id = history.find_label(snap, label_id, external_id)
            sql = (
                history.history_sql(label_id)
                if form == "nested"
                else history.history_rows_sql(label_id, compact=form == "compact")
            )
            return Rows(snap, sql, title=f"history of {label_id}")

    def blame(self, asset_id: str, rev: str | None = None, *, compact: bool = False) -> Rows:
        """Each current label on an asset and who made its current revision, in which
        version, under which guideline, with its review status."""
        from lineage.query import history
        from lineage.query.result import Rows

        snap = self.at(rev)
        with _closed_on_error(snap):
            history.check_asset(snap, asset_id)
            sql = history.blame_table_sql(asset_id) if compact else history.blame_sql(asset_id)
            return Rows(snap, sql, title=f"blame of {asset_id}")

    def audit(
        self,
        rev: str | None = None,
        *,
        policy: Policy | str | Path | None = None,
        examples: int = 10,
        sql: Any = None,
    ) -> AuditResult:
        """Check a revision against the audit policy (a Policy, a policy file, or None:
        the ``[policy]`` of lineage.toml, else the defaults); an AuditResult. ``sql``:
        another engine for the SQL checks (``lineage.engines.spark.audit`` passes one)."""
        from lineage.audit.run import audit_snapshot

        policy = self._policy(policy)
        with self.at(rev) as snap:
            verified = None
            if snap.commit is not None and policy.severity.get("integrity", "error") != "off":
                verified = self.verify(snap.rev if snap.rev is not None else snap.commit)
            return audit_snapshot(snap, policy, examples=examples, verified=verified, sql=sql)

    def _policy(self, policy: Policy | str | Path | None) -> Policy:
        """A Policy as given, or loaded from a file, or lineage.toml's ``[policy]``."""
        from lineage.audit.policy import Policy, load_policy

        return policy if isinstance(policy, Policy) else load_policy(policy, root=self.root)

    def evidence(
        self,
        out: str | Path,
        rev: str | None = None,
        *,
        policy: Policy | str | Path | None = None,
        examples: int = 10,
        pseudonymize_key: bytes | None = None,
    ) -> tuple[AuditResult, EvidencePack]:
        """Audit a committed version (default HEAD) and write its evidence pack to ``out``:
        reports, resolved policy, verify result with proofs, samples, guideline hashes,
        and a SHA-256 manifest (``sha256sum -c SHA256SUMS`` checks it)."""
        from lineage.audit.run import audit_snapshot
        from lineage.show.evidence import write_pack

        if not gitrepo.has_commits(self.git):
            raise InputError(
                "nothing is committed yet: an evidence pack is of a committed version",
                hint='lineage commit -m "..." --tag v1, then audit that version',
            )
        policy = self._policy(policy)
        with self.at(rev or "HEAD") as snap:
            verified = self.verify(snap.commit)
            verified.rev = snap.rev or "HEAD"
            result = audit_snapshot(snap, policy, examples=examples, verified=verified)
            guidelines = snap.arrow(
                "SELECT version, released_at, doc_name, doc_sha256, classes FROM guidelines "
                "ORDER BY released_at, version"
            )
            samples = snap.arrow(
                "SELECT sample_id, label_id, revision, stratum, draw_order, plan FROM samples "
                "ORDER BY sample_id, draw_order"
            )
        if pseudonymize_key is not None:
            result = result.pseudonymized(pseudonymize_key)
        pack = write_pack(
            Path(out), result=result, verified=verified, guidelines=guidelines, samples=samples
        )
        return result, pack

    # ------------------------------------------------------------------ review site

    def show_diff(
        self,
        a: str | None,
        b: str | None = None,
        out: str | Path = "lineage-site",
        *,
        images: str | Path | None = None,
        kinds: Sequence[str] = (),
        classes: Sequence[str] = (),
        annotators: Sequence[str] = (),
        iou_threshold: float = 0.5,
        progress: Progress | None = None,
    ) -> Site:
        """Write the review site of the diff A -> B to ``out``: an index of the changed
        assets and a page per asset with its labels at A and at B on the image (looked
        for under ``images``, then the work tree)."""
        from lineage.show.site import diff_site

        kinds = _kinds(kinds)
        with self.diff(
            a, b, iou_threshold=iou_threshold, classes=classes, annotators=annotators
        ) as result:
            filters = {"class": list(classes), "annotator": list(annotators)}
            return diff_site(
                result,
                out,
                image_roots=self._image_roots(images),
                kinds=kinds,
                filters=filters,
                progress=progress,
            )

    def show(
        self,
        out: str | Path = "lineage-site",
        *,
        rev: str | None = None,
        assets: Sequence[str] = (),
        labels: Sequence[str] = (),
        external_id: str | None = None,
        images: str | Path | None = None,
    ) -> Site:
        """Write review pages of one revision to ``out``: each asset with its current
        labels, each label with all its revisions and its history open."""
        from lineage.query import history
        from lineage.show.site import revision_site

        with self.at(rev) as snap:
            for asset_id in assets:
                history.check_asset(snap, asset_id)
            found = [history.find_label(snap, lid) for lid in labels]
            if external_id is not None:
                found.append(history.find_label(snap, None, external_id))
            return revision_site(
                snap,
                out,
                image_roots=self._image_roots(images),
                asset_ids=list(dict.fromkeys(assets)),
                label_ids=list(dict.fromkeys(found)),
            )

    def show_findings(
        self, result: AuditResult, out: str | Path, *, images: str | Path | None = None
    ) -> Site:
        """Write the pages an audit report's examples link to (labels and assets)."""
        labels = [e for f in result.findings if f.subject == "label" for e in f.examples]
        assets = [e for f in result.findings if f.subject == "asset" for e in f.examples]
        return self.show(
            out,
            rev=result.commit,
            assets=sorted(set(assets)),
            labels=sorted(set(labels)),
            images=images,
        )

    def _image_roots(self, images: str | Path | None) -> list[Path]:
        """Where images may be read from: the folder the user named, then the work tree."""
        if images is not None and not Path(images).is_dir():
            raise InputError("is not a folder", file=images, hint="--images names the image folder")
        return [*([Path(images)] if images is not None else []), self.root]

    def sample(
        self,
        rev: str | None = None,
        *,
        aql: float | None = None,
        level: str = "II",
        stratify: str | None = None,
        seed: int | None = None,
        confidence: float | None = None,
        max_defect_rate: float | None = None,
    ) -> SampleResult:
        """Draw a reproducible audit sample of ``rev``'s labels (ISO 2859-1, or the
        zero-acceptance plan with ``max_defect_rate``) and stage it as a transaction."""
        from lineage.audit import samples

        with self._writing():
            txn_id = ids.time_id("t")
            with self.at(rev) as snap:
                drawn, rows = samples.draw_sample(
                    snap,
                    txn_id,
                    aql=aql,
                    level=level,
                    stratify=stratify,
                    seed=seed,
                    confidence=confidence,
                    max_defect_rate=max_defect_rate,
                )
            plan = drawn.plan
            self._stage(
                txn_id,
                "sample",
                {"samples": rows},
                message=f"audit sample of {plan.n} of {plan.lot_size} labels",
                fmt=None,
                files=[],
                options=samples.plan_record(
                    plan, drawn.seed, drawn.stratify, drawn.rev, drawn.commit
                ),
                counts={"samples": rows.num_rows},
            )
        return drawn

    def record_sample(
        self, sample_id: str, path: str | Path, *, confidence: float | None = None
    ) -> LotDecision:
        """Stage a sample's outcomes (CSV) as review passes of kind ``audit`` and decide
        the lot, with the Clopper-Pearson bound on the defect rate."""
        from lineage.audit import samples

        path = Path(path)
        with self._writing():
            txn_id = ids.time_id("t")
            with self.at(None, in_place=False) as snap:
                decision, table = samples.record_results(
                    snap, sample_id, path, txn_id, confidence=confidence
                )
            self._stage(
                txn_id,
                "review",
                {"reviews": table},
                message=f"audit results of sample {sample_id}",
                fmt="csv",
                files=[path],
                options={"sample_id": sample_id},
                counts={"reviews": table.num_rows, "defects": decision.defects},
            )
        return decision

    def agreement(
        self, rev: str | None = None, *, by: str = "pair", iou_threshold: float = 0.5
    ) -> pa.Table:
        """Agreement figures of ``rev`` per annotator pair, annotator or class (Arrow table)."""
        from lineage.audit.agreement import agreement, check_options

        check_options(by, iou_threshold)
        with self.at(rev) as snap:
            return agreement(snap, by=by, iou_threshold=iou_threshold)

    def stats(self, rev: str | None = None) -> dict[str, pa.Table]:
        """Dataset health of ``rev``: one Arrow table per section."""
        from lineage.audit.health import stats

        with self.at(rev) as snap:
            return stats(snap)

    @staticmethod
    def stats_sql() -> dict[str, str]:
        """The SQL of each ``stats`` section (``lineage stats --sql``)."""
        from lineage.audit.health import SECTION_SQL

        return {name: sql().strip() for name, sql in SECTION_SQL.items()}

    def verify(self, rev: str | None = None, since: str | None = None) -> VerifyResult:
        """Check stored files against their hashes, the transaction hash chain, append-only
        history and earlier tags (see lineage.versioning.verify)."""
        from lineage.versioning.verify import verify

        return verify(self.layout, self.git, rev, since)

    def consistency_proof(self, since_tag: str, rev: str | None = None) -> ConsistencyProof:
        """RFC 9162 proof that ``rev`` (default HEAD) only appended to ``since_tag``."""
        from lineage.versioning.proofs import consistency_proof

        return consistency_proof(self.layout, self.git, since_tag, rev)

    def inclusion_proof(self, label_id: str, rev: str | None = None) -> InclusionProof:
        """RFC 9162 inclusion proof of the transaction that wrote ``label_id``'s current
        revision in ``rev`` (default HEAD), with the segment (and its SHA-256) holding it."""
        from lineage.versioning.manifests import commit_of
        from lineage.versioning.proofs import inclusion_proof

        commit = commit_of(self.git, rev)
        if commit is None:
            raise InputError("the repository has no commits yet", field="rev")
        with self.at(commit.hexsha, in_place=False) as snap:  # opening checks every segment's hash
            found = snap.arrow(
                "SELECT revision, txn_id FROM label_events WHERE label_id = ? "
                "ORDER BY revision DESC LIMIT 1",
                [label_id],
            ).to_pylist()
        if not found:
            raise InputError(
                f"no label '{label_id}' in {rev or 'HEAD'}",
                field="label_id",
                hint="see `lineage query`",
            )
        row = found[0]
        return inclusion_proof(
            self.layout, commit, label_id, row["revision"], row["txn_id"], rev or "HEAD"
        )

    def log(self, rev: str = "HEAD") -> list[dict[str, Any]]:
        """Versions that changed the store, newest first, with their transactions."""
        from lineage.versioning import versions

        return versions.log(self.layout, self.commits, rev)

    def status(self) -> StatusInfo:
        txns = staging.staged(self.layout.staging)
        with self.at(None) as snap:
            counts = {
                v: snap.con.sql(f"SELECT count(*) FROM {v}").fetchall()[0][0]
                for v in ("labels", "label_events", "reviews", "assets", "guidelines", "annotators")
            }
        head = self.git.head.commit.hexsha if gitrepo.has_commits(self.git) else None
        staged = [
            {
                "txn_id": t.txn_id,
                "kind": t.meta.get("kind"),
                "message": t.meta.get("message"),
                "rows": t.meta.get("rows", {}),
            }
            for t in txns
        ]
        from lineage.versioning.merge import status as merge_status

        merge = merge_status(self.layout, self.git)
        return StatusInfo(head, staged, counts, list(self.notes), merge)

    # ------------------------------------------------------------------ writing

    @contextmanager
    def _writing(self, timeout: float | None = None) -> Iterator[None]:
        with write_lock(self.layout.lock, timeout):
            self.notes += committing.recover(self.layout, self.git)
            yield

    def _stage(
        self,
        txn_id: str,
        kind: str,
        tables: dict[str, staging.Rows | None],
        *,
        message: str,
        fmt: str | None,
        files: list[Path],
        options: dict[str, Any],
        counts: dict[str, Any],
        meta: dict[str, Any] | None = None,
    ) -> str:
        """Stage ``tables`` plus their transaction record as transaction ``txn_id``."""
        if not self._merging:
            self._no_merge_in_progress()
        txn_row = {
            "txn_id": txn_id,
            "kind": kind,
            "created_at": ids.now(),
            "author": gitrepo.author(self.git) or getpass.getuser(),
            "message": message,
            "format": fmt,
            "tool_version": __version__,
            "source_files": [
                {"path": str(f), "sha256": sha256(f), "size_bytes": f.stat().st_size}
                for f in files
                if Path(f).is_file()
            ],
            "options": json.dumps(options, sort_keys=True, default=str),
            "counts": json.dumps(counts, sort_keys=True),
            "segment_id": "",
            "segments": [],
            "prev_hash": None,
            "hash": "",
        }
        tables = {
            **tables,
            "transactions": pa.Table.from_pylist([txn_row], schemas.schema("transactions")),
        }
        staging.stage(
            self.layout.staging, txn_id, tables, {"kind": kind, "message": message, **(meta or {})}
        )
        return txn_id

    def import_(
        self,
        fmt: str,
        path: str | Path,
        options: ImportOptions | None = None,
        *,
        message: str | None = None,
        progress: Progress | None = None,
        dry_run: bool = False,
        **fields: Any,
    ) -> TxnResult:
        """Read an export and stage it as one transaction. Nothing is staged on bad input.

        ``options`` (an ImportOptions), or its fields as keywords (``guideline="v1"``,
        ``mode="patch"``, ``annotator_map=`` a dict or a CSV file, ...): who, which
        guideline, how to match and whether labels missing from the file are deleted
        (``mode``). ``dry_run``: stage nothing; the result's ``events`` are the label
        events it would stage. A large file onto images that hold no labels yet is read,
        checked and staged in parts (``ImportOptions.part_rows``), in bounded memory."""
        from lineage import formats

        path = Path(path)
        if not path.exists():
            raise InputError("no such file or folder", file=path)
        options = _import_options(options, fields)
        fmt = formats.detect(path) if fmt == "auto" else fmt
        _tick(progress, "reading", 0, None)
        if not dry_run and options.part_rows is None:
            options = replace(options, part_rows=PART_ROWS)
        batch = formats.get(fmt).read(path, options)
        if batch.rest is not None:
            try:
                return self._import_in_parts(
                    fmt, path, batch, batch.rest, options, message, progress
                )
            except PartsFailed:
                options = replace(options, part_rows=None)  # nothing staged: read it whole
                batch = formats.get(fmt).read(path, options)
        return self._import_whole(fmt, path, batch, options, message, progress, dry_run)

    def _import_whole(
        self,
        fmt: str,
        path: Path,
        batch: ImportBatch,
        options: ImportOptions,
        message: str | None,
        progress: Progress | None,
        dry_run: bool,
    ) -> TxnResult:
        from lineage.formats.validate import validate_batch
        from lineage.store import ingest  # imported here: read-only commands start faster

        mode = options.mode or _default_mode(fmt, batch.labels)
        _tick(progress, "matching", batch.labels.num_rows, None)
        batch.labels = ingest.fill_defaults(batch.labels, options)
        with self._writing():
            with self.at(None, in_place=False) as snap:
                con = snap.con
                validate_batch(
                    duck.connect(),
                    batch,
                    file=str(path),
                    errors=RecordErrors(options.strict),
                    known_sizes=snap.arrow("SELECT asset_id, width, height FROM assets"),
                )
                ingest.check_guidelines(con, batch.labels, str(path), batch.record_names)
                txn_id = ids.time_id("t")
                events, report = ingest.label_events(
                    con,
                    batch,
                    txn_id=txn_id,
                    mode=mode,
                    match=options.match,
                    iou_threshold=options.iou_threshold,
                    file=str(path),
                )
                tables: dict[str, staging.Rows | None] = {
                    "label_events": events,
                    **_import_tables(con, batch, options),
                }
                if batch.reviews is not None and batch.reviews.num_rows:
                    reviews = ingest.map_annotators(
                        batch.reviews, "reviewer_id", options.annotator_map
                    )
                    tables["reviews"] = ingest.resolve_reviews(
                        con, reviews, events, txn_id=txn_id, file=str(path)
                    )
            gone = events.filter(pa.compute.equal(events.column("op"), "delete"))
            result = _import_result(batch, report, mode)
            result.deleted_assets = len(set(gone.column("asset_id").to_pylist()))
            if dry_run:
                result.events = events
                result.notes.append("dry run: nothing staged")
                return result
            return self._stage_import(
                txn_id, fmt, path, batch, options, mode, tables, result, message, progress
            )

    def _import_in_parts(
        self,
        fmt: str,
        path: Path,
        batch: ImportBatch,
        rest: Generator[ImportBatch, None, None],
        options: ImportOptions,
        message: str | None,
        progress: Progress | None,
    ) -> TxnResult:
        """A file read in parts: each part is filled and checked as it comes, and matched
        against the store a part (onto images with no labels) or a bucket of whole
        images (``ingest.events_in_parts``) at a time, so memory holds one part whatever
        the file's size. Raises PartsFailed, with nothing staged, when the file must be
        read whole (label ids, reviews)."""
        from lineage.formats.validate import validate_batch
        from lineage.store import ingest
        from lineage.store.identity import MatchReport

        file, mode = str(path), options.mode or _default_mode(fmt, batch.labels)
        with closing(rest), self._writing(), self.at(None, in_place=False) as snap:
            con = snap.con
            if batch.reviews is not None:
                raise PartsFailed
            sizes = snap.arrow("SELECT asset_id, width, height FROM assets")
            dropped: set[str] = set()
            done = 0

            def prepare(part: ImportBatch) -> None:
                nonlocal sizes, dropped, done
                part.labels = ingest.fill_defaults(part.labels, options)
                errors = RecordErrors(options.strict)
                dropped = validate_batch(
                    duck.connect(),
                    part,
                    file=file,
                    errors=errors,
                    known_sizes=sizes,
                    dropped_assets=dropped,
                )
                if part is batch and batch.assets is not None and batch.assets.num_rows:
                    own = batch.assets.select(["asset_id", "width", "height"])
                    sizes = pa.concat_tables([own, sizes], promote_options="permissive")
                ingest.check_guidelines(con, part.labels, file)
                done += part.labels.num_rows
                _tick(progress, "matching", done, None)

            txn_id = ids.time_id("t")
            report = MatchReport()
            work = scratch_dir(self.layout)
            if work is None:
                raise RepoError(f"cannot write to {self.layout.work / 'tmp'}")
            try:
                events_file = work / f"{txn_id}-label_events.parquet"
                stream = ingest.events_in_parts(
                    con,
                    chain([batch], rest),
                    batch,
                    prepare=prepare,
                    report=report,
                    spill=work,
                    bucket_rows=options.part_rows or PART_ROWS,
                    txn_id=txn_id,
                    mode=mode,
                    match=options.match,
                    iou_threshold=options.iou_threshold,
                    file=file,
                )
                _, written = write_parquet_batches(
                    events_file,
                    schemas.schema("label_events"),
                    (schemas.conform("label_events", e) for e in stream),
                )
                tables: dict[str, staging.Rows | None] = {
                    "label_events": events_file if written else None,
                    **_import_tables(con, batch, options),
                }
                result = _import_result(batch, report, mode)
                if written:
                    result.deleted_assets = ingest.deleted_assets(events_file)
                return self._stage_import(
                    txn_id, fmt, path, batch, options, mode, tables, result, message, progress
                )
            finally:
                drop_scratch(work)

    def _stage_import(
        self,
        txn_id: str,
        fmt: str,
        path: Path,
        batch: ImportBatch,
        options: ImportOptions,
        mode: str,
        tables: dict[str, staging.Rows | None],
        result: TxnResult,
        message: str | None,
        progress: Progress | None,
    ) -> TxnResult:
        """Stage an import's tables (label events already carry ``txn_id``) with its
        transaction record; nothing when nothing changed."""
        staged = {
            k: v if isinstance(v, Path) else _with_txn(v, txn_id)
            for k, v in tables.items()
            if isinstance(v, Path) or (isinstance(v, pa.Table) and v.num_rows)
        }
        if not staged:
            result.notes.append("nothing changed: no transaction staged")
            return result
        counts = {
            k: staging.row_count(v) if isinstance(v, Path) else v.num_rows
            for k, v in staged.items()
        }
        counts.update(created=result.created, updated=result.updated, deleted=result.deleted)
        opts = {
            "format": fmt,
            "mode": mode,
            "match": options.match,
            "iou_threshold": options.iou_threshold,
            "annotator": options.annotator,
            "guideline": options.guideline,
            "source": options.source,
            "model_version": options.model_version,
            "strict": options.strict,
        }
        self._stage(
            txn_id,
            "import",
            staged,
            message=message or f"import {fmt} {path.name}",
            fmt=fmt,
            files=batch.source_files or [path],
            options=opts,
            counts=counts,
        )
        result.txn_id = txn_id
        result.rows = counts
        total = result.created + result.updated + result.unchanged
        _tick(progress, "staged", total, total)
        return result

    def import_reviews(self, path: str | Path, *, message: str | None = None) -> TxnResult:
        """Stage the review passes of a CSV file as one transaction."""
        from lineage.formats import reviews_csv

        path = Path(path)
        reviews, records = reviews_csv.read(path)
        return self._add_reviews(
            reviews, records, str(path), message or f"reviews {path.name}", [path]
        )

    def add_review(
        self,
        label_id: str,
        *,
        pass_: int,
        reviewer: str,
        verdict: str,
        reason: str | None = None,
        guideline_version: str | None = None,
        kind: str = "review",
        reviewed_at: str | None = None,
    ) -> TxnResult:
        from lineage.formats import reviews_csv

        rec = reviews_csv.review_record(
            {
                "label_id": label_id,
                "pass": str(pass_),
                "reviewer_id": reviewer,
                "verdict": verdict,
                "reason": reason,
                "guideline_version": guideline_version,
                "kind": kind,
                "reviewed_at": reviewed_at or ids.now().isoformat(),
            },
            record="review",
        )
        from lineage.formats.base import incoming_schema

        table = pa.Table.from_pylist([rec], schema=incoming_schema("reviews"))
        return self._add_reviews(table, ["review"], "command line", f"review {label_id}", [])

    def _add_reviews(
        self, reviews: pa.Table, records: list[str], file: str, message: str, files: list[Path]
    ) -> TxnResult:
        from lineage.store import ingest

        if reviews.num_rows == 0:
            raise InputError("no reviews in the file", file=file)
        with self._writing():
            with self.at(None, in_place=False) as snap:
                gl = reviews.column("guideline_version").to_pylist()
                known = {
                    r[0] for r in snap.con.execute("SELECT version FROM guidelines").fetchall()
                }
                for i, v in enumerate(gl):
                    if v is not None and v not in known:
                        raise InputError(
                            f"unknown guideline version '{v}'",
                            file=file,
                            record=records[i],
                            field="guideline_version",
                        )
                txn_id = ids.time_id("t")
                table = ingest.resolve_reviews(
                    snap.con, reviews, None, txn_id=txn_id, file=file, records=records
                )
                # reviewed_at defaults to now
                now = pa.scalar(ids.now(), pa.timestamp("us", tz="UTC"))
                table = table.set_column(
                    table.schema.get_field_index("reviewed_at"),
                    "reviewed_at",
                    pa.compute.fill_null(table.column("reviewed_at"), now),
                )
            self._stage(
                txn_id,
                "review",
                {"reviews": table},
                message=message,
                fmt="csv",
                files=files,
                options={},
                counts={"reviews": table.num_rows},
            )
            return TxnResult(txn_id, rows={"reviews": table.num_rows})

    def add_guideline(
        self,
        version: str,
        *,
        classes: list[str] | str | Path,
        doc: str | Path | None = None,
        released_at: datetime | str | None = None,
    ) -> TxnResult:
        """Record a guideline version: its taxonomy, release time (a datetime or ISO 8601
        text; default now) and document hash."""
        released_at = _released_at(released_at)
        if isinstance(classes, str | Path):
            classes = read_classes(Path(classes))
        if not classes:
            raise InputError("a guideline needs at least one class", field="classes")
        doc_path = Path(doc) if doc else None
        if doc_path is not None and not doc_path.is_file():
            raise InputError("guideline document not found", file=doc_path)
        row = {
            "version": version,
            "released_at": released_at or ids.now(),
            "doc_name": doc_path.name if doc_path else None,
            "doc_sha256": sha256(doc_path) if doc_path else None,
            "classes": list(dict.fromkeys(classes)),
        }
        return self._stage_rows(
            "guideline", "guidelines", [row], f"guideline {version}", [doc_path] if doc_path else []
        )

    def add_annotator(
        self,
        annotator_id: str,
        *,
        kind: str = "human",
        name: str | None = None,
        team: str | None = None,
    ) -> TxnResult:
        """Register a person or model, so audits can tell known annotators from unknown ones."""
        return self.add_annotators(
            [{"annotator_id": annotator_id, "kind": kind, "name": name, "team": team}]
        )

    def import_annotators(self, path: str | Path) -> TxnResult:
        """Register the annotators of a CSV file (annotator_id,kind[,name,team])."""
        from lineage.formats.csvfile import read_records

        rows, _ = read_records(path, required=("annotator_id",), optional=("kind", "name", "team"))
        if not rows:
            raise InputError("no annotators in the file", file=path)
        return self.add_annotators(rows, source=Path(path))

    def add_annotators(self, rows: list[dict[str, Any]], source: Path | None = None) -> TxnResult:
        """Register several annotators in one transaction (rows: annotator_id, kind, name, team)."""
        for i, row in enumerate(rows, start=1):
            if not row.get("annotator_id"):
                raise InputError(
                    "annotator_id is required", file=source, record=i, field="annotator_id"
                )
            if row.get("kind", "human") not in ("human", "model"):
                raise InputError(
                    f"'{row['kind']}' is not one of human, model",
                    file=source,
                    record=i,
                    field="kind",
                )
        rows = [{"kind": "human", "name": None, "team": None, **r} for r in rows]
        what = rows[0]["annotator_id"] if len(rows) == 1 else f"{len(rows)} annotators"
        return self._stage_rows(
            "annotators", "annotators", rows, f"annotator {what}", [source] if source else []
        )

    def _stage_rows(
        self, kind: str, table: str, rows: list[dict[str, Any]], message: str, files: list[Path]
    ) -> TxnResult:
        """Stage a few rows of one table (guidelines, annotators) as one transaction."""
        with self._writing():
            txn_id = ids.time_id("t")
            data = _with_txn(pa.Table.from_pylist(rows), txn_id)
            self._stage(
                txn_id,
                kind,
                {table: data},
                message=message,
                fmt=None,
                files=files,
                options={},
                counts={table: len(rows)},
            )
            return TxnResult(txn_id, rows={table: len(rows)})

    def commit(self, message: str, tag: str | None = None) -> CommitResult:
        """Move everything staged into the store and record it as a git commit (+ tag)."""
        with self._writing():
            self._no_merge_in_progress()
            last = None
            if gitrepo.has_commits(self.git):
                with self.at("HEAD", in_place=False) as snap:
                    found = snap.con.sql(
                        "SELECT hash FROM transactions ORDER BY txn_id DESC LIMIT 1"
                    ).fetchall()
                    last = found[0][0] if found else None
            if not gitrepo.has_identity(self.git):
                self.notes.append(
                    "git has no user identity, so the commit names this machine's account; "
                    'set it with git config user.name "..." and git config user.email "..."'
                )
            from lineage.query import compaction

            settings = _checkpoint_settings(self.config)
            with self.at(None, in_place=False) as snap:
                todo = (
                    compaction.plan(snap, settings) if staging.staged(self.layout.staging) else None
                )
                if todo is not None:
                    self._stage_checkpoint("checkpoint", snap, todo)
            return committing.commit(self.layout, self.git, message, tag, last)

    def compact(
        self, message: str = "lineage compact: checkpoint", tag: str | None = None
    ) -> CommitResult:
        """Write a checkpoint of every part (the materialised current state) and commit it,
        so reads cost the live labels plus the events since, not the whole log. History
        is kept."""
        with self._writing(), self.at(None, in_place=False) as snap:
            self._stage_full_checkpoint(message, snap)
        return self.commit(message, tag=tag)

    def _stage_full_checkpoint(self, message: str, snap: Snapshot) -> None:
        from lineage.query import compaction

        self._stage_checkpoint(
            message, snap, compaction.full(snap, _checkpoint_settings(self.config))
        )

    def _stage_checkpoint(self, message: str, snap: Snapshot, todo: compaction.Plan) -> None:
        """Stage a checkpoint of ``todo``'s parts of ``snap`` (the work state), streamed
        to disk."""
        from lineage.query import compaction

        rows, meta = compaction.state(snap, todo)
        self._stage(
            ids.time_id("t"),
            "compact",
            {schemas.CHECKPOINTS: rows},
            message=message,
            fmt=None,
            files=[],
            options={},
            counts={"checkpoint_parts": len(todo.write)},
            meta=meta,
        )

    def discard(self) -> int:
        """Drop everything staged; returns how many transactions were dropped."""
        with self._writing():
            txns = staging.staged(self.layout.staging)
            for t in txns:
                staging.discard(t)
            return len(txns)

    # ------------------------------------------------------------------ merge

    def merge(self, branch: str, message: str | None = None) -> MergeResult:
        """Merge ``branch`` into the checked-out branch: both stores' segments union, and
        labels both branches changed since their common history stop the merge as
        conflicts (``conflicts``, ``resolve``, ``merge_continue``, ``merge_abort``)."""
        from lineage.versioning import merge as merging

        with self._writing():
            self._no_merge_in_progress()
            if staging.staged(self.layout.staging):
                raise RepoError(
                    "there is staged work", hint="`lineage commit` or `lineage discard` it first"
                )
            if not gitrepo.has_commits(self.git):
                raise RepoError("the repository has no commits yet")
            ours_branch = gitrepo.branch(self.git)
            if ours_branch is None:
                raise RepoError("HEAD is detached", hint="check out the branch to merge into")
            ours, theirs = self.git.head.commit, gitrepo.resolve(self.git, branch)
            if self.git.is_ancestor(theirs, ours):
                return merging.MergeResult("up-to-date", branch, ours.hexsha)
            if self.git.is_ancestor(ours, theirs):
                self.git.git.merge("--ff-only", theirs.hexsha)
                dvcstore.checkout(self.root, self.layout.store_name)
                return merging.MergeResult("fast-forward", branch, theirs.hexsha)
            if merging.install_driver(self.git, self.layout):
                self.notes.append(
                    f"registered lineage's merge driver for {self.layout.dvc_file.name} in "
                    ".gitattributes: commit that file so plain `git merge` refuses with guidance"
                )
            txn_id = ids.time_id("t")
            both = merging.union(self.layout, self.git, ours.hexsha, theirs.hexsha)
            from lineage.query import merge as merge_sql

            with self._open(both.files) as snap:
                mapping, conflicts = merge_sql.plan(snap.con, both.sides)
            mapping = mapping.append_column("txn_id", pa.array([txn_id] * mapping.num_rows))
            unmerged = merging.start_git_merge(self.git, self.layout, theirs.hexsha, branch)
            state = merging.MergeState(
                branch=branch,
                theirs=theirs.hexsha,
                ours=ours.hexsha,
                ours_branch=ours_branch,
                txn_id=txn_id,
                message=message or f"Merge {branch} into {ours_branch}",
                started_at=ids.now().isoformat(),
            )
            staging.stage(
                merging.folder(self.layout), "pre", {"revision_map": mapping}, {"kind": "merge"}
            )
            write_parquet(merging.conflicts_file(self.layout), conflicts)
            state.save(self.layout)
            if conflicts.num_rows or unmerged:
                return merging.MergeResult(
                    "conflicts",
                    branch,
                    conflicts=conflicts.num_rows,
                    unmerged=unmerged,
                    renumbered=mapping.num_rows,
                )
            return self._finish_merge(state)

    def merge_continue(self) -> MergeResult:
        """Commit the merge in progress once every conflict is resolved."""
        from lineage.versioning import merge as merging

        with self._writing():
            state = merging.MergeState.load(self.layout)
            if state is None:
                raise RepoError("no merge is in progress", hint="`lineage merge BRANCH`")
            return self._finish_merge(state)

    def merge_abort(self) -> None:
        """Drop the merge in progress: both branches stay as they were."""
        from lineage.versioning import merge as merging

        with self._writing():
            if merging.MergeState.load(self.layout) is None and not gitrepo.merging(self.git):
                raise RepoError("no merge is in progress")
            merging.abort_git_merge(self.git)
            for txn in staging.staged(self.layout.staging):
                staging.discard(txn)  # a merge's own, left by a killed --continue
            merging.clear(self.layout)
            dvcstore.checkout(self.root, self.layout.store_name)

    def conflicts(self) -> Rows:
        """The labels the merge in progress cannot merge alone, with their resolutions."""
        from lineage.query.result import Rows
        from lineage.versioning import merge as merging

        if merging.MergeState.load(self.layout) is None:
            raise RepoError("no merge is in progress", hint="`lineage merge BRANCH`")
        return Rows(self.at(None), "SELECT * FROM conflicts ORDER BY label_id", title="conflicts")

    def resolve(
        self,
        label_ids: Sequence[str] | None = None,
        take: str = "ours",
        revision: int | None = None,
        *,
        from_file: str | Path | None = None,
    ) -> int:
        """Choose how conflicted labels merge: ``take`` ours, theirs, or ``revision`` N
        (a revision of the label in the merged numbering, as ``conflicts`` shows it).
        ``from_file``: a CSV of label_id,take[,revision] rows. Returns how many."""
        from lineage.versioning import merge as merging

        with self._writing():
            state = merging.MergeState.load(self.layout)
            if state is None:
                raise RepoError("no merge is in progress", hint="`lineage merge BRANCH`")
            import pyarrow.parquet as pq

            table = pq.read_table(merging.conflicts_file(self.layout))
            known = {r["label_id"]: r for r in table.to_pylist()}
            wanted = (
                merging.read_resolutions(Path(from_file))
                if from_file is not None
                else [(lid, take, revision, f"label {lid}") for lid in label_ids or []]
            )
            if not wanted:
                raise InputError("name a label, or --from a CSV file", field="label_id")
            who = gitrepo.author(self.git) or getpass.getuser()
            for lid, how, rev, where in wanted:
                merging.check_resolution(known.get(lid), lid, how, rev, where)
                state.resolutions[lid] = {
                    "take": how,
                    "revision": rev,
                    "by": who,
                    "at": ids.now().isoformat(),
                }
            state.save(self.layout)
            return len(wanted)

    def _no_merge_in_progress(self) -> None:
        """Writes other than the merge's own wait until a merge is done."""
        from lineage.versioning import merge as merging

        if merging.MergeState.load(self.layout) is not None:
            raise RepoError(
                "a merge is in progress",
                hint="`lineage conflicts`, `lineage resolve`, then `lineage merge --continue` "
                "(or `lineage merge --abort`)",
            )
        if gitrepo.merging(self.git):
            raise RepoError(
                "a plain git merge is in progress; git cannot merge label stores",
                hint="`git merge --abort`, then `lineage merge BRANCH`",
            )

    def _finish_merge(self, state: MergeState) -> MergeResult:
        """Record the resolutions and the map as the merge transaction and commit it with
        both parents. Called with the write lock held."""
        import pyarrow.parquet as pq

        from lineage.query import merge as merge_sql
        from lineage.versioning import manifests
        from lineage.versioning import merge as merging

        unmerged = [p for p in merging.unmerged_paths(self.git) if p != self.layout.dvc_file.name]
        if unmerged:
            raise RepoError(
                f"git could not merge {len(unmerged)} other file(s), e.g. {unmerged[0]}",
                hint="resolve them, `git add` them, then `lineage merge --continue`",
            )
        conflicts = pq.read_table(merging.conflicts_file(self.layout)).to_pylist()
        open_ = [c["label_id"] for c in conflicts if c["label_id"] not in state.resolutions]
        if open_:
            raise RepoError(
                f"{len(open_)} conflicted label(s) are not resolved yet, e.g. {open_[0]}",
                hint="`lineage conflicts`, then `lineage resolve LABEL_ID --ours|--theirs|"
                "--revision N` (or --from FILE.csv)",
            )
        for txn in staging.staged(self.layout.staging):
            staging.discard(txn)  # a killed --continue's: staged again below
        both = merging.union(self.layout, self.git, state.ours, state.theirs)
        pre = staging.staged(merging.folder(self.layout))
        both.files.staged = pre
        resolutions = merging.resolutions_table(conflicts, state)
        with self._open(both.files) as snap:
            events, reviews = merge_sql.resolution_rows(
                snap.con, both.sides, resolutions, state.txn_id, ids.now()
            )
        found = pre[0].table_file("revision_map") if pre else None
        mapping = pq.read_table(found) if found else schemas.empty("revision_map")
        theirs_chain = manifests.read_chain(self.layout, both.theirs)
        last = manifests.read_chain(self.layout, both.ours)
        self._merging = True
        try:
            self._stage(
                state.txn_id,
                "merge",
                {"label_events": events, "reviews": reviews, "revision_map": mapping},
                message=state.message,
                fmt=None,
                files=[],
                options={
                    "merge": {
                        "branch": state.branch,
                        "into": state.ours_branch,
                        "ours": state.ours,
                        "theirs": state.theirs,
                        "theirs_hash": theirs_chain[-1]["hash"] if theirs_chain else None,
                        "resolutions": state.resolutions,
                    }
                },
                counts={
                    "renumbered": mapping.num_rows,
                    "conflicts": len(conflicts),
                    "label_events": events.num_rows,
                    "reviews": reviews.num_rows,
                },
            )
            if any(rel.startswith(f"{schemas.CHECKPOINTS}/") for rel in both.added):
                # the newest checkpoint is the merged branch's alone: write one of both
                both.files.staged = staging.staged(self.layout.staging)
                with self._open(both.files) as snap:
                    self._stage_full_checkpoint("checkpoint after merge", snap)
            result = committing.commit(
                self.layout,
                self.git,
                state.message,
                None,
                last[-1]["hash"] if last else None,
                merged=both.added,
            )
        finally:
            self._merging = False
        merging.clear(self.layout)
        tables = Counter(rel.split("/")[0] for rel in both.added)
        return merging.MergeResult(
            "merged",
            state.branch,
            result.commit,
            resolved=len(conflicts),
            renumbered=mapping.num_rows,
            added=dict(tables),
        )

    # ------------------------------------------------------------------ remotes

    def remote_add(
        self,
        name: str,
        url: str,
        default: bool = True,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        commit: bool = False,
    ) -> None:
        """Add a DVC remote to .dvc/config: a folder, or object storage (s3://bucket/prefix,
        with ``endpoint_url`` for an S3-compatible server, and ``region``). Object storage
        gets bounded timeouts. Credentials are never written: they come from the usual
        environment or profile chain. Staged for git, or committed with ``commit``."""
        options: dict[str, str] = {}
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if (endpoint_url or region) and scheme != "s3":
            raise InputError(
                "--endpoint-url and --region are for s3:// remotes", field="endpoint_url"
            )
        if scheme == "s3":
            from lineage.versioning.remote_errors import CONNECT_TIMEOUT, READ_TIMEOUT

            options.update(connect_timeout=str(CONNECT_TIMEOUT), read_timeout=str(READ_TIMEOUT))
        if endpoint_url:
            if not endpoint_url.startswith(("http://", "https://")):
                raise InputError(
                    f"endpoint URL '{endpoint_url}' must start with http:// or https://",
                    field="endpoint_url",
                )
            options["endpointurl"] = endpoint_url
        if region:
            options["region"] = region
        dvcstore.remote_add(self.root, name, url, default, options)
        self.git.index.add([".dvc/config"])
        if commit:
            self.git.index.commit(f"Add remote {name}")
            self.notes.append(f"committed .dvc/config with remote '{name}'")
        else:
            self.notes.append(
                "wrote and staged .dvc/config; commit it to share the remote: "
                f'git commit -m "Add remote {name}" .dvc/config'
            )

    def remotes(self) -> list[tuple[str, str, bool]]:
        return dvcstore.remotes(self.root)

    def push(self, remote: str | None = None) -> int:
        """Upload the store files of every version (all branches and tags) to the remote."""
        from lineage.versioning import versions

        return dvcstore.push(self.root, remote, versions.all_dir_md5s(self.layout, self.git))

    def pull(self, remote: str | None = None) -> int:
        """Download missing store files, and replace corrupt ones (DVC cache or work tree)
        with the remote's good copies; repairs are listed in ``notes``."""
        from lineage.errors import IntegrityError

        with self._writing():
            fixed = self.repair(remote)
            self.notes += [f"repaired {f} from the remote" for f in fixed.repaired]
            if fixed.failed:
                raise IntegrityError(
                    f"{len(fixed.failed)} corrupt file(s) have no good copy on the remote, "
                    f"e.g. {fixed.failed[0]}",
                    hint="push a good copy from another clone, then pull again",
                )
            return dvcstore.pull(self.root, remote) + len(fixed.repaired)

    def repair(self, remote: str | None = None) -> RepairResult:
        """Replace corrupt cache and work-tree files (any version) by the remote's good
        copies; what was repaired and what could not be (``pull`` runs this first)."""
        from lineage.versioning.repair import repair

        return repair(self.layout, self.git, remote)

    # ------------------------------------------------------------------ export

    def export(
        self,
        fmt: str,
        out: str | Path,
        *,
        rev: str | None = None,
        pseudonymize_key: bytes | None = None,
        extra: dict[str, Any] | None = None,
    ) -> ExportResult:
        """Write the labels of ``rev`` in format ``fmt``."""
        from lineage import formats
        from lineage.formats.base import ExportInput, ExportOptions, LabelSource
        from lineage.versioning.revision import resolve

        module = formats.get(fmt)
        streams = getattr(module, "STREAMS_LABELS", False)
        # a writer that streams reads the labels in order a batch at a time: the sort
        # spills past a small budget instead of holding the revision
        files = resolve(self.layout, self.commits, rev, in_place=True)
        with self._open(files, memory=STREAM_MEMORY if streams else None) as snap:

            def raw(view: str) -> pa.Table:
                return snap.con.sql(
                    f"SELECT * FROM {view}"
                    + (" ORDER BY asset_id, label_id" if view == "labels" else "")
                ).to_arrow_table()

            if streams:
                labels = schemas.empty("label_events")
            else:
                labels = raw("labels")
                labels = labels.set_column(
                    labels.schema.get_field_index("attributes"),
                    "attributes",
                    labels.column("attributes").cast(pa.string()),
                )
            data = ExportInput(
                labels=schemas.conform("label_events", labels),
                assets=schemas.conform("assets", raw("assets")),
                categories=schemas.conform("categories", raw("categories")),
                annotators=schemas.conform("annotators", raw("annotators")),
                reviews=schemas.conform("reviews", raw("reviews")),
                guidelines=schemas.conform("guidelines", raw("guidelines")),
                revision=rev or "HEAD",
                stream=LabelSource(snap.con) if streams else None,
            )
            options = ExportOptions(pseudonymize_key=pseudonymize_key, extra=extra or {})
            return cast("ExportResult", module.write(data, Path(out), options))


def merge_driver(pointer: str) -> tuple[int, str]:
    """git's merge driver for the store pointer (``lineage.versioning.merge.driver``)."""
    from lineage.versioning.merge import driver

    return driver(pointer)


def _kinds(kinds: Sequence[str]) -> list[str]:
    """Kinds of change as given, each checked against ``lineage.changes.Change``."""
    from lineage.changes import Change

    known = [c.value for c in Change]
    bad = [k for k in kinds if k not in known]
    if bad:
        raise InputError(
            f"unknown kind of change '{bad[0]}'", field="kind", hint="kinds: " + ", ".join(known)
        )
    return list(kinds)


def _released_at(value: datetime | str | None) -> datetime | None:
    """A release time as given (ISO 8601 text, a date alone meaning its midnight UTC);
    a time without a zone is UTC."""
    from datetime import UTC

    if value is None or isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise InputError(
                f"'{value}' is not an ISO 8601 time (e.g. 2026-09-15 or 2026-09-15T08:00:00Z)",
                field="released_at",
            ) from None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@contextmanager
def _closed_on_error(snap: Snapshot) -> Iterator[Snapshot]:
    """Hand ``snap`` on to what a method returns, but close it if building that fails."""
    try:
        yield snap
    except BaseException:
        snap.close()
        raise


def interrupt_queries() -> None:
    """Stop every query running in this process (Ctrl-C)."""
    from lineage.query import stream

    stream.interrupt_all()


def _import_options(options: ImportOptions | None, fields: dict[str, Any]) -> ImportOptions:
    """``options``, or one built from keyword fields (a CSV path as ``annotator_map`` is
    read; ``sizes``/``images`` become paths), checked."""
    from dataclasses import fields as dataclass_fields

    if options is not None and fields:
        raise TypeError("give ImportOptions or its fields as keywords, not both")
    if options is None:
        known = {f.name for f in dataclass_fields(ImportOptions)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise TypeError(f"unknown import option(s): {', '.join(unknown)}")
        amap = fields.get("annotator_map")
        if isinstance(amap, str | Path):  # a CSV file: tool user id, annotator id
            from lineage.formats.csvfile import read_annotator_map

            fields["annotator_map"] = read_annotator_map(amap)
        for key in ("sizes", "images"):
            if fields.get(key):
                fields[key] = Path(fields[key])
        fields = {k: v for k, v in fields.items() if v is not None or k == "mode"}
        fields["annotator_map"] = fields.get("annotator_map") or {}
        fields["extra"] = fields.get("extra") or {}
        options = ImportOptions(**fields)
    options.check()
    return options


def _checkpoint_settings(config: dict[str, Any]) -> checkpoint.Settings:
    """``[store] checkpoint_ratio``, ``checkpoint_min_events``, ``checkpoint_parts`` and
    ``checkpoint_budget`` of lineage.toml."""
    store = config.get("store", {}) if isinstance(config.get("store"), dict) else {}
    default = checkpoint.Settings()
    out: dict[str, Any] = {}
    # a cloned repository's lineage.toml is untrusted: the part count is bounded (the
    # bounds are computed and kept in every checkpoint's footer)
    for key, whole, least, most in (
        ("ratio", False, 0, None),
        ("min_events", True, 0, None),
        ("parts", True, 1, checkpoint.MAX_PARTS),
        ("budget", False, 0, 1),
    ):
        value = store.get(f"checkpoint_{key}", getattr(default, key))
        kinds = int if whole else int | float
        if (
            isinstance(value, bool)
            or not isinstance(value, kinds)
            or not least <= value <= (most if most is not None else value)
        ):
            what = "a whole number" if whole else "a number"
            span = f">= {least}" if most is None else f"from {least} to {most}"
            raise RepoError(
                f"{CONFIG_FILE}, field 'store.checkpoint_{key}': {value!r} is not {what} {span}"
            )
        out[key] = value if whole else float(value)
    return checkpoint.Settings(**out)


def _import_tables(con: Any, batch: ImportBatch, options: ImportOptions) -> dict[str, pa.Table]:
    """The assets, categories and annotators an import adds or changes."""
    from lineage.store import ingest

    tables = {}
    for table, key in (
        ("assets", "asset_id"),
        ("categories", "class_name"),
        ("annotators", "annotator_id"),
    ):
        incoming = getattr(batch, table)
        if table == "annotators" and incoming is not None and options.annotator_map:
            incoming = ingest.map_annotators(incoming, "annotator_id", options.annotator_map)
        tables[table] = ingest.changed_rows(con, table, incoming, key)
    return tables


def _import_result(batch: ImportBatch, report: Any, mode: str) -> TxnResult:
    return TxnResult(
        None,
        created=report.created,
        updated=report.updated,
        deleted=report.deleted,
        unchanged=report.unchanged,
        matched_by=report.matched_by,
        moved_iou=report.moved_iou,
        skipped=list(batch.skipped),
        notes=list(batch.notes),
        mode=mode,
    )


def _default_mode(fmt: str, labels: pa.Table) -> str:
    """patch for a native file that names label ids or deletes labels, else snapshot."""
    if fmt == "native" and labels.num_rows:
        named = labels.column("label_id").null_count < labels.num_rows
        deletes = pa.compute.any(pa.compute.equal(labels.column("op"), "delete")).as_py()
        if named or deletes:
            return "patch"
    return "snapshot"


def read_classes(path: Path) -> list[str]:
    """Class names, one per line (``#`` comments and blank lines ignored)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the class list: {exc}", file=path) from exc
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def _with_txn(table: pa.Table, txn_id: str) -> pa.Table:
    col = pa.array([txn_id] * table.num_rows, pa.string())
    if "txn_id" in table.column_names:
        return table.set_column(table.schema.get_field_index("txn_id"), "txn_id", col)
    return table.append_column("txn_id", col)


def _tick(progress: Progress | None, stage: str, done: int, total: int | None) -> None:
    if progress is not None:
        progress(stage, done, total)
