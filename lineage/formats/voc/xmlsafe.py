"""Parse VOC XML safely: no entity expansion, no external entities, no DTD fetching.

defusedxml refuses any ``<!ENTITY>`` declaration, so a billion-laughs bomb or an
XXE file that points at a local path fails at once with a clear error instead of
hanging or reading the file. Every parser failure becomes an InputError naming the file.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from lineage.errors import InputError


def load(path: Path) -> Element:
    """The root element of ``path``; InputError when it is not safe, well-formed XML."""
    try:
        return safe_et.parse(
            path, forbid_dtd=False, forbid_entities=True, forbid_external=True
        ).getroot()
    except DefusedXmlException as exc:
        raise InputError(
            f"XML declares entities or external references, refused for safety ({type(exc).__name__})",
            file=path,
            hint="VOC annotations never need <!ENTITY> declarations; remove the DOCTYPE",
        ) from exc
    except ParseError as exc:
        raise InputError(f"not well-formed XML ({exc})", file=path) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read XML ({exc})", file=path) from exc


def root_tag(path: Path, max_events: int = 64) -> tuple[str | None, set[str]]:
    """Sniff ``path`` without reading all of it: the root tag and the tags seen among the
    first elements (for detection). ``(None, set())`` when it is not safe, readable XML."""
    seen: set[str] = set()
    root = None
    try:
        for n, (_, elem) in enumerate(
            safe_et.iterparse(path, events=("start",), forbid_entities=True, forbid_external=True)
        ):
            if root is None:
                root = elem.tag
            seen.add(elem.tag)
            if n >= max_events:
                break
    except Exception:  # detection never raises: any failure means "not mine"
        return (root, seen) if root is not None else (None, set())
    return root, seen
