"""The evidence pack of one dataset version: what an auditor files, checkable without
lineage.

``lineage audit --evidence DIR`` writes the audit report (JSON and HTML), the policy as
resolved with its SHA-256, the ``verify`` result (Merkle root, and the consistency
proof against each earlier tag), the recorded audit samples, the guideline versions
with their documents' SHA-256, and a manifest of every file's SHA-256, twice: as
``MANIFEST.json`` and as ``SHA256SUMS``, so ``sha256sum -c SHA256SUMS`` checks the pack
with no tool but coreutils.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.csv as pacsv

from lineage.errors import InputError
from lineage.show.report import to_html, to_json
from lineage.store.files import sha256

if TYPE_CHECKING:
    from lineage.audit.run import AuditResult
    from lineage.versioning.verify import VerifyResult

MANIFEST = "MANIFEST.json"
SUMS = "SHA256SUMS"


@dataclass(frozen=True)
class EvidencePack:
    """Where the pack is and what it holds (path relative to it -> SHA-256)."""

    path: Path
    files: dict[str, str]


def write_pack(
    out: Path,
    *,
    result: AuditResult,
    verified: VerifyResult,
    guidelines: pa.Table,
    samples: pa.Table,
) -> EvidencePack:
    """Write the pack into ``out`` (a new or empty folder). It is written beside ``out``
    first and moved into place at the end, so a pack is never half there."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(
            "the evidence folder exists and is not empty", file=out,
            hint="give a new folder: a pack holds exactly one version's evidence",
        )  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        files = _write_files(work, result, verified, guidelines, samples)
        if out.exists():
            out.rmdir()
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return EvidencePack(out, files)


def _write_files(
    folder: Path,
    result: AuditResult,
    verified: VerifyResult,
    guidelines: pa.Table,
    samples: pa.Table,
) -> dict[str, str]:
    policy = result.policy
    texts = {
        "audit.json": to_json(result),
        "audit.html": to_html(result),
        "policy.json": _json(
            {"source": policy.source, "sha256": policy.sha256, "policy": policy.as_dict()}
        ),
        "verify.json": _json(
            {
                "rev": verified.rev,
                "commit": verified.commit,
                "ok": verified.ok,
                "segments": verified.segments,
                "transactions": verified.transactions,
                "merkle_root": verified.root,
                "problems": [asdict(p) for p in verified.problems],
                "consistency_proofs": [asdict(c) for c in verified.consistency],
            }
        ),
        "guidelines.json": _json(guidelines.to_pylist()),
        "samples.json": _json({"outcomes": result.samples}),
    }
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    pacsv.write_csv(samples, folder / "samples.csv")  # every sampled label, as drawn
    files = {p.name: sha256(p) for p in sorted(folder.iterdir())}
    manifest = {
        "rev": result.rev,
        "commit": result.commit,
        "generated_at": result.generated_at.isoformat(),
        "tool": {"name": "lineage", "version": result.tool_version},
        "check": f"sha256sum -c {SUMS}",
        "files": [
            {"path": name, "sha256": digest, "bytes": (folder / name).stat().st_size}
            for name, digest in files.items()
        ],
    }
    (folder / MANIFEST).write_text(_json(manifest), encoding="utf-8")
    files[MANIFEST] = sha256(folder / MANIFEST)
    sums = "".join(f"{digest}  {name}\n" for name, digest in sorted(files.items()))
    (folder / SUMS).write_text(sums, encoding="utf-8")
    return files


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n"
