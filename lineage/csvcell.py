"""CSV cells that a spreadsheet will not run.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a
formula to Excel, LibreOffice and Google Sheets; annotator ids and review reasons come
from other tools' exports, so they may be crafted (``=HYPERLINK(...)``). As OWASP
recommends, such text cells get a leading single quote in every CSV lineage writes;
numbers are left as they are. lineage's own CSV readers take the quote off again.
"""

from __future__ import annotations

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    return "'" + text if text.startswith(TRIGGERS) else text


def restore(text: str) -> str:
    """The inverse, for CSV files lineage wrote itself."""
    return text[1:] if text.startswith("'") and text[1:].startswith(TRIGGERS) else text
