"""Audits: policy checks, annotator agreement, statistically sound samples, reports."""
