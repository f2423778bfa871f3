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
    no_self_review: bool = True
    distinct_pass_reviewers: bool = True
    max_rejection_rate: float | None = None
    rejection_rate_min_reviewed: int = 1
    min_labels_per_class: int | None = None
    min_agreement: float | None = None
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
            "severity": dict(sorted(self.severity.items())),
        }
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


_TOP = {
    "required_passes",
    "class_passes",
    "current_guideline",
    "model_labels_need_human_accept",
    "separation_of_duties",
    "limits",
    "severity",
}
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
    """Validate a policy mapping (as TOML gives it) and return the Policy."""

    def bad(key: str, message: str) -> InputError:
        return InputError(message, file=file, field=prefix + key, hint="see schemas/policy.json")

    def table(value, key: str) -> dict:
        if not isinstance(value, dict):
            raise bad(key, f"must be a table, not {value!r}")
        return value

    def unknown(keys, allowed, where: str) -> None:
        for k in keys:
            if k not in allowed:
                raise bad(where + k, f"unknown key (expected one of {', '.join(sorted(allowed))})")

    def integer(value, key: str, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise bad(key, f"must be a whole number >= {minimum}, not {value!r}")
        return value

    def rate(value, key: str) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not 0 <= value <= 1:
            raise bad(key, f"must be a number in [0, 1], not {value!r}")
        return float(value)

    def flag(value, key: str) -> bool:
        if not isinstance(value, bool):
            raise bad(key, f"must be true or false, not {value!r}")
        return value

    if not isinstance(data, dict):
        raise InputError(f"the policy must be a table, not {data!r}", file=file, field="policy")
    unknown(data, _TOP, "")
    kw: dict = {}
    if "required_passes" in data:
        kw["required_passes"] = integer(data["required_passes"], "required_passes", 0)
    if "class_passes" in data:
        kw["class_passes"] = {
            str(c): integer(v, f"class_passes.{c}", 0)
            for c, v in table(data["class_passes"], "class_passes").items()
        }
    if "current_guideline" in data:
        v = data["current_guideline"]
        if not isinstance(v, str) or not v:
            raise bad("current_guideline", f"must be a guideline version string, not {v!r}")
        kw["current_guideline"] = v
    if "model_labels_need_human_accept" in data:
        kw["model_labels_need_human_accept"] = flag(
            data["model_labels_need_human_accept"], "model_labels_need_human_accept"
        )
    duties = table(data.get("separation_of_duties", {}), "separation_of_duties")
    unknown(duties, _DUTIES, "separation_of_duties.")
    for k in _DUTIES & duties.keys():
        kw[k] = flag(duties[k], f"separation_of_duties.{k}")
    limits = table(data.get("limits", {}), "limits")
    unknown(limits, _LIMITS, "limits.")
    if "max_rejection_rate" in limits:
        kw["max_rejection_rate"] = rate(limits["max_rejection_rate"], "limits.max_rejection_rate")
    if "rejection_rate_min_reviewed" in limits:
        kw["rejection_rate_min_reviewed"] = integer(
            limits["rejection_rate_min_reviewed"], "limits.rejection_rate_min_reviewed", 1
        )
    if "min_labels_per_class" in limits:
        kw["min_labels_per_class"] = integer(
            limits["min_labels_per_class"], "limits.min_labels_per_class", 0
        )
    if "min_agreement" in limits:
        v = limits["min_agreement"]
        if isinstance(v, bool) or not isinstance(v, int | float) or not -1 <= v <= 1:
            raise bad("limits.min_agreement", f"must be a number in [-1, 1], not {v!r}")
        kw["min_agreement"] = float(v)
    if "severity" in data:
        from lineage.audit.checks import CHECK_IDS

        sev = {}
        for k, v in table(data["severity"], "severity").items():
            if k not in CHECK_IDS:
                raise bad(
                    f"severity.{k}", f"unknown check (expected one of {', '.join(CHECK_IDS)})"
                )
            if v not in SEVERITIES:
                raise bad(f"severity.{k}", f"must be one of {', '.join(SEVERITIES)}, not {v!r}")
            sev[k] = v
        kw["severity"] = sev
    return Policy(**kw, source=str(file) if file is not None else None)
