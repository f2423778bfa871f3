"""audit, sample, sample record."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lineage.cli import main
from lineage.cli.common import engine_options, open_repo, rev_option, show_notes, spark_engine
from lineage.cli.output import emit_json, format_option, message, render, working


@main.command()
@rev_option
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Policy TOML file (default: the [policy] section of lineage.toml).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "html"]),
    default=None,
    help="Report format; default: text on a terminal, json when piped.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the report to this file instead of stdout.",
)
@click.option(
    "--examples",
    type=click.IntRange(0),
    default=10,
    show_default=True,
    help="Example ids shown per finding.",
)
@click.option(
    "--pseudonymize",
    is_flag=True,
    help="Replace annotator and reviewer ids by keyed hashes ($LINEAGE_PSEUDONYM_KEY).",
)
@click.option(
    "--metrics",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the figures as a DVC metrics file (JSON of numbers).",
)
@click.option(
    "--evidence",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write the version's evidence pack to this new folder: reports, policy, "
    "verify result and proofs, samples, guideline hashes, and SHA256SUMS.",
)
@click.option(
    "--site",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write review pages of the findings' example labels and images to this "
    "folder; the HTML report links each example to its page.",
)
@click.option(
    "--images",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Folder holding the images, for --site (default: the work tree).",
)
@engine_options
@click.pass_context  # fmt: skip
def audit(
    ctx,
    rev,
    policy_file,
    fmt,
    output,
    examples,
    pseudonymize,
    metrics,
    evidence,
    site,
    images,
    engine,
    master,
):
    """Check a revision against the audit policy: traceability, review coverage,
    separation of duties, guideline currency, model labels, rejected labels, limits.

    Exit code 0 when no error-severity finding exists, 1 when one does (so CI can gate
    on it), 2 on bad input such as an invalid policy file.

    \b
    Example:
      lineage audit --rev v2
      lineage audit --policy policy.toml --format html --output audit.html
      lineage audit --rev v2 --evidence evidence-v2 && (cd evidence-v2 && sha256sum -c SHA256SUMS)
      lineage audit --rev v2 --format html -o audit.html --site audit-site
      lineage audit --rev v2 --engine spark --master spark://127.0.0.1:7077
    """
    from lineage.show.report import render_report, write_metrics

    spark = spark_engine(engine, master, evidence=evidence)
    repo = open_repo(ctx)
    key = None
    if pseudonymize:
        from lineage.formats.pseudonym import load_key

        key = load_key()
    with working("auditing"):
        if evidence:
            result, pack = repo.evidence(
                evidence, rev, policy=policy_file, examples=examples, pseudonymize_key=key
            )
        elif spark is not None:
            result = spark.run_audit(
                repo, rev, policy=policy_file, examples=examples, master=master
            )
        else:
            result = repo.audit(rev, policy=policy_file, examples=examples)
        if key is not None and not evidence:
            result = result.pseudonymized(key)
    if evidence:
        message(f"Wrote the evidence pack ({len(pack.files)} files) to {pack.path}")
    show_notes(repo)
    links = None
    if site:
        pages = repo.show_findings(result, site, images=images)
        links = pages.links_from(Path(output).parent if output else Path.cwd())
        message(f"Wrote {pages.pages} review page(s) of the examples to {pages.path}")
    fmt = fmt or ("text" if sys.stdout.isatty() else "json")
    text = render_report(result, fmt, links)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        message(f"Wrote the {fmt} report to {output}")
    else:
        click.echo(text, nl=False)
    if metrics:
        write_metrics(result, metrics)
    c = result.counts
    message(
        f"Audit {'passed' if result.passed else 'failed'}: {c['error']} error, "
        f"{c['warning']} warning, {c['info']} info finding(s) over "
        f"{result.labels_audited} label(s)"
    )
    ctx.exit(result.exit_code)


@main.group(invoke_without_command=True)
@rev_option
@click.option(
    "--aql",
    type=float,
    default=None,
    help="Acceptable quality level in % (ISO 2859-1 series; default 1.0).",
)
@click.option(
    "--level",
    default="II",
    show_default=True,
    help="ISO 2859-1 inspection level: S-1..S-4, I, II, III.",
)
@click.option(
    "--stratify",
    type=click.Choice(["class", "annotator"]),
    default=None,
    help="Allocate the sample proportionally over classes or annotators.",
)
@click.option(
    "--seed",
    type=click.IntRange(0),
    default=None,
    help="Random seed (default: a random one, recorded with the sample).",
)
@click.option(
    "--confidence",
    type=float,
    default=None,
    help="Confidence of the zero-acceptance plan and of the defect-rate bound (default 0.95).",
)
@click.option(
    "--max-defect-rate",
    type=float,
    default=None,
    help="Use the zero-acceptance plan that shows the defect rate is below this.",
)
@format_option()
@click.pass_context  # fmt: skip
def sample(ctx, rev, aql, level, stratify, seed, confidence, max_defect_rate, fmt):
    """Draw a reproducible audit sample of a revision's labels and stage it as its own
    transaction. Sized by ISO 2859-1 single sampling, normal inspection (lot size and
    level -> code letter -> n, Ac, Re for the AQL), or with --max-defect-rate by the
    zero-acceptance hypergeometric plan. `lineage commit` records it.

    \b
    Example:
      lineage sample --rev v2 --aql 1.0 --seed 7
      lineage sample --confidence 0.95 --max-defect-rate 0.02 --stratify class
      lineage sample record SAMPLE_ID results.csv
    """
    if ctx.invoked_subcommand is not None:
        return
    repo = open_repo(ctx)
    result = repo.sample(rev, aql=aql, level=level, stratify=stratify, seed=seed,
                         confidence=confidence, max_defect_rate=max_defect_rate)  # fmt: skip
    show_notes(repo)
    p = result.plan
    how = (f"zero acceptance at {p.confidence:g} confidence, defect rate < {p.max_defect_rate:g}"
           if p.max_defect_rate is not None
           else f"ISO 2859-1 level {p.level}, AQL {p.aql:g}, code letter {p.code_letter}")  # fmt: skip
    message(
        f"Sample {result.sample_id}: n={p.n} of {p.lot_size} labels, Ac={p.ac}, Re={p.re} "
        f"({how}), seed {result.seed}. Staged; `lineage commit` records it."
    )
    if fmt == "json":
        emit_json({"sample_id": result.sample_id, "plan": result.plan_dict(),
                   "labels": result.labels.to_pylist()})  # fmt: skip
    else:
        render(result.labels, fmt, title=f"sample {result.sample_id}")


@sample.command("record")
@click.argument("sample_id")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--confidence",
    type=float,
    default=None,
    help="Confidence of the defect-rate bound (default: the plan's, else 0.95).",
)
@format_option()
@click.pass_context  # fmt: skip
def sample_record(ctx, sample_id, path, confidence, fmt):
    """Record the outcome of each sampled label (CSV: label_id,outcome,reviewer_id and
    optional reason,reviewed_at; outcome ok or defect) as review passes of kind audit,
    and decide the lot by Ac/Re, with a one-sided Clopper-Pearson upper bound on the
    defect rate. Exit code 0 when the lot is accepted, 1 when it is rejected.

    \b
    Example:
      lineage sample record t20261128T101500000000-a1b2c3 results.csv
    """
    repo = open_repo(ctx)
    result = repo.record_sample(sample_id, path, confidence=confidence)
    show_notes(repo)
    message(
        f"Lot {'accepted' if result.decision == 'accept' else 'REJECTED'}: {result.defects} "
        f"defect(s) in {result.n} (Ac={result.ac}, Re={result.re}); defect rate <= "
        f"{100 * result.defect_rate_upper:.2f} % at {result.confidence:g} confidence. "
        f"Staged as {result.txn_id}."
    )
    if fmt == "json":
        emit_json(result.as_dict())
    else:
        render([result.as_dict()], fmt)
    ctx.exit(0 if result.decision == "accept" else 1)
