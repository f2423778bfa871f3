"""The audit policy: what a dataset must satisfy, read from TOML and validated.

The policy lives in the ``[policy]`` section of ``lineage.toml`` or in its own TOML
file (``--policy FILE``, with or without the ``[policy]`` header). Its shape is
documented in ``schemas/policy.json``; every bad key or value is an InputError that
names the file and the key, so a CI job fails with a message a person can act on.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lineage.errors import InputError

SEVERITIES = ("error", "warning", "info", "off")


@dataclass(frozen=True)
class Policy:
    """What the audit demands. Every field has a default, so an empty policy still
    checks traceability, separation of duties and rejected labels."""

    required_passes: int = 1
    class_passes: dict[str, int] = field(default_factory=dict)
    current_guideline: str | None = None  # None: the guideline version released last
    model_labels_need_human_accept: bool = True
    # a label whose current revision a merge conflict resolution wrote needs a review
    review_after_merge: bool = False
    no_self_review: bool = True
    distinct_pass_reviewers: bool = True
    max_rejection_rate: float | None = None
    rejection_rate_min_reviewed: int = 1
    min_labels_per_class: int | None = None
    min_agreement: float | None = None
    # a label may name a guideline this many days after the next version's release
    guideline_grace_days: int = 0
    # split names that must not share an image (by content hash); empty: every split
    disjoint_splits: tuple[str, ...] = ()
    outside_tolerance_px: float = 0.5  # geometry.outside: how far past the image edge
    duplicate_iou: float = 0.95  # geometry.duplicate: same asset and class, IoU above this
    # sample.accepted: the plan a recorded, accepted audit sample of these labels must
    # have (aql, level, max_defect_rate, confidence); empty: no sample required
    require_sample: dict[str, Any] = field(default_factory=dict)
    severity: dict[str, str] = field(default_factory=dict)
    source: str | None = None  # the file it came from, for reports

    def as_dict(self) -> dict:
        """The effective policy (defaults filled in) in the shape of the TOML section, so
        ``parse_policy(p.as_dict()) == p`` up to ``source``; unset limits are left out."""
        limits = {
            "max_rejection_rate": self.max_rejection_rate,
            "rejection_rate_min_reviewed": self.rejection_rate_min_reviewed,
            "min_labels_per_class": self.min_labels_per_class,
            "min_agreement": self.min_agreement,
        }
        d = {
            "required_passes": self.required_passes,
            "class_passes": dict(sorted(self.class_passes.items())),
            "current_guideline": self.current_guideline,
            "model_labels_need_human_accept": self.model_labels_need_human_accept,
            "separation_of_duties": {
                "no_self_review": self.no_self_review,
                "distinct_pass_reviewers": self.distinct_pass_reviewers,
            },
            "limits": {k: v for k, v in limits.items() if v is not None},
            "guideline_grace_days": self.guideline_grace_days,
            "disjoint_splits": list(self.disjoint_splits),
            "geometry": {
                "outside_tolerance_px": self.outside_tolerance_px,
                "duplicate_iou": self.duplicate_iou,
            },
            "severity": dict(sorted(self.severity.items())),
        }
        if self.review_after_merge:  # only when set: earlier policies keep their hash
            d["review_after_merge"] = True
        if self.require_sample:
            d["require_sample"] = dict(sorted(self.require_sample.items()))
        if d["current_guideline"] is None:
            del d["current_guideline"]
        return d

    @property
    def sha256(self) -> str:
        """Hash of the effective policy as canonical JSON: the same demands give the
        same hash whatever the file's layout, comments or other sections."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def passes_for(self, class_name: str | None) -> int:
        return self.class_passes.get(class_name or "", self.required_passes)


_DUTIES = {"no_self_review", "distinct_pass_reviewers"}
_LIMITS = {
    "max_rejection_rate",
    "rejection_rate_min_reviewed",
    "min_labels_per_class",
    "min_agreement",
}


def load_policy(path: str | Path | None = None, *, root: str | Path | None = None) -> Policy:
    """The policy of ``path`` (its own TOML file), else the ``[policy]`` section of
    ``root/lineage.toml``, else the defaults. Reports name it by its path relative to
    ``root`` (its file name when it lies elsewhere), never by an absolute machine path."""
    if path is not None:
        path = Path(path)
        data = _read_toml(path)
        if "policy" in data:  # a lineage.toml, or a policy file with its [policy] header
            policy = parse_policy(data["policy"], file=path, prefix="policy.")
        else:
            policy = parse_policy(data, file=path)
        return replace(policy, source=_shown(path, root))
    if root is not None:
        config = Path(root) / "lineage.toml"
        if config.is_file():
            data = _read_toml(config)
            if "policy" in data:
                policy = parse_policy(data["policy"], file=config, prefix="policy.")
                return replace(policy, source="lineage.toml")
    return Policy()


def _shown(path: Path, root: str | Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            pass
    return path.name


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError("policy file not found", file=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the policy file: {exc.strerror}", file=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", file=path) from None


def parse_policy(data: dict, *, file: str | Path | None = None, prefix: str = "") -> Policy:
    """Validate a policy mapping (as TOML gives it) against ``schemas/policy.json`` (the
    one statement of the rules) and return the Policy. The first problem is an
    InputError naming the file and the key."""

    def bad(key: str, message: str) -> InputError:
        return InputError(message, file=file, field=prefix + key, hint="see schemas/policy.json")

    if not isinstance(data, dict):
        raise InputError(f"the policy must be a table, not {data!r}", file=file, field="policy")
    problem = _first_problem(data)
    if problem is not None:
        raise bad(*problem)
    for key, value in _numbers(data):  # JSON Schema lets NaN pass every bound
        if not math.isfinite(value):
            raise bad(key, f"must be a finite number, not {value!r}")
    duties = data.get("separation_of_duties", {})
    limits = data.get("limits", {})
    kw: dict = {
        k: v
        for k, v in data.items()
        if k
        in (
            "required_passes",
            "current_guideline",
            "model_labels_need_human_accept",
            "review_after_merge",
        )
    }
    if "class_passes" in data:
        kw["class_passes"] = {str(c): v for c, v in data["class_passes"].items()}
    kw.update({k: duties[k] for k in _DUTIES & duties.keys()})
    kw.update({k: limits[k] for k in _LIMITS & limits.keys()})
    if "guideline_grace_days" in data:
        kw["guideline_grace_days"] = data["guideline_grace_days"]
    if "disjoint_splits" in data:
        kw["disjoint_splits"] = tuple(str(x) for x in data["disjoint_splits"])
    if "require_sample" in data:
        kw["require_sample"] = {
            k: float(v) if k != "level" else v for k, v in data["require_sample"].items()
        }
    geometry = data.get("geometry", {})
    for k in ("outside_tolerance_px", "duplicate_iou"):
        if k in geometry:
            kw[k] = float(geometry[k])
    for k in ("max_rejection_rate", "min_agreement"):
        if k in kw:
            kw[k] = float(kw[k])
    if "severity" in data:
        kw["severity"] = dict(data["severity"])
    return Policy(**kw, source=str(file) if file is not None else None)


def _schema() -> dict:
    from lineage.store.schema import SCHEMA_DIR

    return json.loads((SCHEMA_DIR / "policy.json").read_text())


def _first_problem(data: dict) -> tuple[str, str] | None:
    """(dotted key, what is wrong) of the first schema violation, in words a policy's
    author can act on; None when the policy is valid."""
    from jsonschema import Draft202012Validator

    schema = _schema()
    errors = sorted(
        Draft202012Validator(schema).iter_errors(data),
        key=lambda e: (len(e.absolute_path), [str(p) for p in e.absolute_path]),
    )
    if not errors:
        return None
    err = errors[0]
    path = [str(p) for p in err.absolute_path]
    value = err.instance
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))[0]
        what = "check" if path == ["severity"] else "key"
        return ".".join([*path, extra]), f"unknown {what} (expected one of {', '.join(allowed)})"
    key = ".".join(path) or "policy"
    spec = err.schema
    kind = spec.get("type")
    if kind == "object":
        return key, f"must be a table, not {value!r}"
    if kind == "array":
        return key, f"must be a list of distinct names, not {value!r}"
    if kind == "boolean":
        return key, f"must be true or false, not {value!r}"
    if kind == "integer":
        return key, f"must be a whole number >= {spec.get('minimum', 0)}, not {value!r}"
    if kind == "number":
        return key, f"must be a number in [{spec['minimum']:g}, {spec['maximum']:g}], not {value!r}"
    if "enum" in spec:
        return key, f"must be one of {', '.join(spec['enum'])}, not {value!r}"
    if key == "current_guideline":
        return key, f"must be a guideline version string, not {value!r}"
    return key, err.message


def _numbers(data: dict, prefix: str = ""):
    """(dotted key, value) of every float in the policy."""
    for k, v in data.items():
        if isinstance(v, dict):
            yield from _numbers(v, f"{prefix}{k}.")
        elif isinstance(v, float):
            yield f"{prefix}{k}", v
