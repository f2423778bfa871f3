"""Presentation above the audit and the queries: audit reports (text, Markdown, HTML)
and, later, the static review site."""
