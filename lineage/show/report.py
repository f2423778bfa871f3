"""Audit reports: text for terminals and CI logs, JSON for machines (documented by
``schemas/audit_report.json``), Markdown and HTML for people who file them.

Markdown and HTML carry the plots an auditor would rather look at than read (review
coverage per class, rejection rate per annotator, labels per guideline version) as
inline SVG bar charts drawn here, and name the tool version, commit, policy hash and
time so the report can be filed as evidence. Markdown also shows each plot as a text
bar chart, so it stays readable as plain text.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from lineage.audit.checks import weakened
from lineage.audit.run import AuditResult

FORMATS = ("text", "json", "markdown", "html")


def render_report(result: AuditResult, fmt: str, links: Mapping[str, str] | None = None) -> str:
    """The report of ``result`` in ``fmt`` (text, json, markdown or html). ``links``
    (example id -> URL of its review page) makes the HTML's examples links."""
    if fmt == "html":
        return to_html(result, links)
    renderers = {"text": to_text, "json": to_json, "markdown": to_markdown}
    return renderers[fmt](result)


def write_metrics(result: AuditResult, path: str | Path) -> None:
    """The audit's figures as a DVC metrics file (``dvc metrics show`` / ``diff``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.metrics(), indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- shared pieces


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}{'es' if word.endswith('s') else 's'}"


def _verdict(result: AuditResult) -> str:
    return "PASSED" if result.passed else "FAILED"


def _header(result: AuditResult) -> list[tuple[str, str]]:
    """What identifies the audit: revision, commit, policy, time, tool."""
    policy = result.policy
    return [
        ("Revision", result.rev or "work state (HEAD plus staged)"),
        ("Commit", result.commit or "(none: nothing committed)"),
        ("Policy", f"{policy.source or '(defaults)'}"),
        ("Policy SHA-256", policy.sha256),
        ("Policy weakens", "; ".join(weakened(policy)) or "nothing (every check at its default)"),
        ("Current guideline", result.current_guideline or "(none recorded)"),
        *(("Audit sample", _sample_line(x)) for x in result.samples),
        ("Generated", result.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Tool", f"lineage {result.tool_version}"),
    ]


def _sample_line(x: dict) -> str:
    """One recorded sample of these labels: plan, outcome, bound."""
    if x["max_defect_rate"] is not None:
        plan = f"zero acceptance, defect rate < {x['max_defect_rate']:g}"
    else:
        plan = f"ISO 2859-1 level {x['level']}, AQL {x['aql']:g}"
    bound = x["defect_rate_upper"]
    shown = (
        f"; defect rate <= {100 * bound:.2f} % at {x['bound_confidence']:g} confidence"
        if bound is not None
        else ""
    )
    return (
        f"{x['sample_id']}: {plan}, n={x['n']} of {x['lot_size']}, Ac={x['ac']}; "
        f"{x['inspected']} inspected, {x['defects']} defect(s): {x['decision']}{shown}"
    )


def _coverage_line(result: AuditResult) -> str:
    n = result.labels_audited
    pct = f" ({100 * result.covered / n:.1f} %)" if n else ""
    return f"{result.covered} of {n} labels have the review passes the policy requires{pct}"


def _severity_line(result: AuditResult) -> str:
    c = result.counts
    return f"{c['error']} error, {c['warning']} warning, {c['info']} info"


def _figures(result: AuditResult) -> list[tuple[str, str, list[tuple[str, float, str]], float]]:
    """(title, unit, [(label, value, annotation)], axis maximum) for each plot."""
    coverage = [
        (str(r["class_name"]), r["coverage"] or 0.0, f"{r['covered']}/{r['labels']}")
        for r in result.coverage_by_class
    ]
    rejection = [
        (str(r["annotator_id"]), r["rejection_rate"] or 0.0, f"{r['rejected']}/{r['reviewed']}")
        for r in result.rejection_by_annotator
    ]
    per_guideline = [
        (
            str(r["guideline_version"] or "(none)") + (" (current)" if r["current"] else ""),
            float(r["labels"]),
            str(r["labels"]),
        )
        for r in result.labels_by_guideline
    ]
    most = max((v for _, v, _ in per_guideline), default=1.0) or 1.0
    plots = [
        ("Review coverage per class", "share", coverage, 1.0),
        ("Rejection rate per annotator", "share", rejection, 1.0),
        ("Labels per guideline version", "count", per_guideline, most),
    ]
    for dim in ("class", "split", "annotator", "source"):  # the bias examination
        rows = [
            (str(r["key"]), float(r["labels"]), f"{r['labels']} ({100 * r['share']:.1f} %)")
            for r in result.distributions
            if r["dimension"] == dim
        ]
        top = max((v for _, v, _ in rows), default=1.0) or 1.0
        plots.append((f"Labels per {dim}", "count", rows, top))
    return plots


def _limit_for(title: str, result: AuditResult) -> float | None:
    if title.startswith("Rejection"):
        return result.policy.max_rejection_rate
    return None


# ---------------------------------------------------------------- text


def to_text(result: AuditResult) -> str:
    lines = [f"lineage audit: {_verdict(result)}", ""]
    width = max(len(k) for k, _ in _header(result))
    lines += [f"  {k.ljust(width)}  {v}" for k, v in _header(result)]
    lines += [
        "",
        f"Labels audited: {result.labels_audited}",
        f"Coverage: {_coverage_line(result)}",
        f"Findings: {_severity_line(result)}",
        "",
        "Checks:",
    ]
    id_width = max(len(c.id) for c in result.checks)
    for c in result.checks:
        status = {"pass": "pass", "fail": "FAIL", "off": "off", "not_run": "not run"}[c.status]
        count = str(c.count) if c.status == "fail" else ""
        note = f"  ({c.note})" if c.note else ""
        lines.append(
            f"  {status:<8}{c.severity:<8}{c.id.ljust(id_width)}  {count:>6}  {c.title}{note}"
        )
    for f in result.findings:
        lines += [
            "",
            f"[{f.severity}] {f.check}: {f.title} ({_plural(f.count, f.subject)})",
            f"  Why: {f.why}",
            f"  Examples: {', '.join(f.examples)}" + (" ..." if f.count > len(f.examples) else ""),
            "  List them all:",
            *("    " + ln for ln in f.sql.splitlines()),
        ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- json


def _jsonable(value):
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(result: AuditResult) -> str:
    return json.dumps(result.as_dict(), indent=2, default=_jsonable, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- plots


def text_bars(rows: Sequence[tuple[str, float, str]], maximum: float, width: int = 30) -> str:
    """A bar chart in plain text: one line per row."""
    if not rows:
        return "(no data)"
    name_w = max(len(n) for n, _, _ in rows)
    out = []
    for name, value, note in rows:
        filled = round(width * value / maximum) if maximum else 0
        out.append(f"{name.ljust(name_w)}  {'█' * filled}{'·' * (width - filled)}  {note}")
    return "\n".join(out)


def svg_bar_chart(
    title: str,
    rows: Sequence[tuple[str, float, str]],
    maximum: float,
    *,
    percent: bool = False,
    limit: float | None = None,
    below: float | None = None,
) -> str:
    """A horizontal bar chart as a standalone SVG element (no external resources).

    ``rows`` are (label, value, annotation); bars are scaled to ``maximum``; ``limit``
    draws a dashed line (a policy threshold) and colours bars beyond it red; bars under
    ``below`` are coloured amber (e.g. classes not fully reviewed).
    """
    bar_h, gap, label_w, plot_w, top = 18, 6, 150, 360, 34
    height = top + max(len(rows), 1) * (bar_h + gap) + 26
    width = label_w + plot_w + 110
    esc = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{esc(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="8" y="20" font-size="14" font-weight="bold">{esc(title)}</text>',
    ]
    if not rows:
        parts.append(f'<text x="{label_w}" y="{top + 14}" fill="#666">no data</text>')
    for i, (name, value, note) in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = plot_w * (value / maximum if maximum else 0.0)
        over = limit is not None and value > limit
        short = below is not None and value < below
        colour = "#c0392b" if over else "#e67e22" if short else "#2e86c1"
        shown = f"{100 * value:.0f} %" if percent else f"{value:g}"
        paren = f" ({note})" if percent and note else ""
        parts += [
            f'<text x="{label_w - 8}" y="{y + 13}" text-anchor="end">{esc(name[:24])}</text>',
            f'<rect x="{label_w}" y="{y}" width="{plot_w}" height="{bar_h}" fill="#eef2f5"/>',
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
            f"<title>{esc(name)}: {esc(shown)}{esc(paren)}</title></rect>",
            f'<text x="{label_w + plot_w + 6}" y="{y + 13}">{esc(shown)}{esc(paren)}</text>',
        ]
    axis_y = top + max(len(rows), 1) * (bar_h + gap)
    for t in (0.0, 0.5, 1.0):
        x = label_w + plot_w * t
        label = f"{100 * t * maximum:.0f} %" if percent else f"{t * maximum:.4g}"
        parts.append(
            f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" fill="#666">{label}</text>'
        )
    if limit is not None and maximum:
        x = label_w + plot_w * min(limit / maximum, 1.0)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{axis_y}" stroke="#c0392b" '
            f'stroke-dasharray="4 3"><title>policy limit {100 * limit:.0f} %</title></line>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _svgs(result: AuditResult) -> list[tuple[str, str]]:
    return [
        (
            title,
            svg_bar_chart(
                title,
                rows,
                maximum,
                percent=unit == "share",
                limit=_limit_for(title, result),
                below=1.0 if title.startswith("Review coverage") else None,
            ),
        )
        for title, unit, rows, maximum in _figures(result)
    ]


# ---------------------------------------------------------------- markdown


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(result: AuditResult) -> str:
    out = [f"# Label audit: {_verdict(result)}", ""]
    out += ["| | |", "| --- | --- |"]
    out += [f"| {k} | `{_md_cell(v)}` |" for k, v in _header(result)]
    out += [
        "",
        "## Summary",
        "",
        f"- **Result:** {_verdict(result)}"
        + (" (no error-severity finding)" if result.passed else " (error-severity findings)"),
        f"- **Labels audited:** {result.labels_audited}",
        f"- **Coverage:** {_coverage_line(result)}",
        f"- **Findings:** {_severity_line(result)}",
        "",
        "## Figures",
        "",
    ]
    for title, _unit, rows, maximum in _figures(result):
        out += [f"### {title}", "", "```text", text_bars(rows, maximum), "```", ""]
    out += [
        "## Checks",
        "",
        "| status | severity | check | count | what |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for c in result.checks:
        title = c.title + (f" ({c.note})" if c.note else "")
        status = "**FAIL**" if c.status == "fail" else c.status.replace("_", " ")
        count = c.count if c.status in ("pass", "fail") else ""
        out.append(f"| {status} | {c.severity} | `{c.id}` | {count} | {_md_cell(title)} |")
    out += ["", "## Findings", ""]
    if not result.findings:
        out += ["No findings.", ""]
    for f in result.findings:
        more = " …" if f.count > len(f.examples) else ""
        out += [
            f"### {f.severity.upper()} `{f.check}`: {f.title}",
            "",
            f"{_plural(f.count, f.subject)}. {f.why}",
            "",
            f"Examples: {', '.join(f'`{e}`' for e in f.examples)}{more}",
            "",
            "List them all with `lineage query`:",
            "",
            "```sql",
            f.sql,
            "```",
            "",
        ]
    out += ["## Figures as SVG", ""]
    for title, svg in _svgs(result):
        out += [f"<details><summary>{html.escape(title)}</summary>", "", svg, "", "</details>", ""]
    return "\n".join(out)


# ---------------------------------------------------------------- html

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 64rem; color: #222; }
h1 .pass { color: #1e8449; } h1 .fail { color: #c0392b; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccd; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f0f3f6; }
td.num { text-align: right; }
tr.fail td:first-child { color: #c0392b; font-weight: bold; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; }
code { font-family: ui-monospace, monospace; }
.error { color: #c0392b; } .warning { color: #b9770e; } .info { color: #2e86c1; }
"""


def _example_html(example: str, links: Mapping[str, str]) -> str:
    code = f"<code>{html.escape(example)}</code>"
    href = links.get(example)
    return f'<a href="{html.escape(href)}">{code}</a>' if href else code


def to_html(result: AuditResult, links: Mapping[str, str] | None = None) -> str:
    esc = html.escape
    verdict = _verdict(result)
    meta = {
        "lineage-version": result.tool_version,
        "lineage-commit": result.commit or "",
        "lineage-policy-sha256": result.policy.sha256,
        "lineage-generated-at": result.generated_at.isoformat(),
    }
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        *(f'<meta name="{k}" content="{esc(v)}">' for k, v in meta.items()),
        f"<title>Label audit: {verdict}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f'<h1>Label audit: <span class="{"pass" if result.passed else "fail"}">{verdict}</span></h1>',
        '<table class="identity">',
        *(f"<tr><th>{esc(k)}</th><td><code>{esc(v)}</code></td></tr>" for k, v in _header(result)),
        "</table>",
        "<h2>Summary</h2>",
        "<ul>",
        f"<li><strong>Labels audited:</strong> {result.labels_audited}</li>",
        f"<li><strong>Coverage:</strong> {esc(_coverage_line(result))}</li>",
        f"<li><strong>Findings:</strong> {esc(_severity_line(result))}</li>",
        "</ul>",
        "<h2>Figures</h2>",
        '<div class="figures">',
        *(f'<figure class="plot">{svg}</figure>' for _, svg in _svgs(result)),
        "</div>",
        "<h2>Checks</h2>",
        "<table>",
        "<tr><th>status</th><th>severity</th><th>check</th><th>count</th><th>what</th></tr>",
    ]
    for c in result.checks:
        count = c.count if c.status in ("pass", "fail") else ""
        note = f" ({esc(c.note)})" if c.note else ""
        out.append(
            f'<tr class="{c.status}"><td>{esc(c.status.replace("_", " "))}</td>'
            f'<td class="{c.severity if c.status == "fail" else ""}">{c.severity}</td>'
            f"<td><code>{esc(c.id)}</code></td>"
            f'<td class="num">{count}</td><td>{esc(c.title)}{note}</td></tr>'
        )
    out += ["</table>", "<h2>Findings</h2>"]
    if not result.findings:
        out.append("<p>No findings.</p>")
    for f in result.findings:
        more = " …" if f.count > len(f.examples) else ""
        examples = ", ".join(_example_html(e, links or {}) for e in f.examples)
        out += [
            f'<section class="finding" id="{esc(f.check)}">',
            f'<h3><span class="{f.severity}">{f.severity.upper()}</span> '
            f"<code>{esc(f.check)}</code>: {esc(f.title)}</h3>",
            f"<p>{esc(_plural(f.count, f.subject))}. {esc(f.why)}</p>",
            f"<p>Examples: {examples}{more}</p>",
            f"<details><summary>SQL listing all of them</summary><pre><code>{esc(f.sql)}"
            "</code></pre></details>",
            "</section>",
        ]
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
