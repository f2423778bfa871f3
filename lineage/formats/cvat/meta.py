"""The ``<meta>`` block of a CVAT 1.1 export: labels, attribute specs, jobs and assignees.

Task exports carry ``<meta><task>``, job exports ``<meta><job>`` (the job's assignee),
project exports ``<meta><project>`` with ``<tasks><task>`` and the labels at project level.
Each task lists ``<segments>`` (one per job, frames ``start..stop``); an assignee may sit
on a segment (per job), on the job, or on the task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

# Oldest exports write an attribute spec as text: "~radio=quality:good,bad" (~ mutable, @ not).
_OLD_ATTR = re.compile(r"^[~@](?P<type>\w+)=(?P<name>[^:]+):(?P<values>.*)$", re.S)


@dataclass(frozen=True)
class Person:
    """A CVAT user as the export names it."""

    username: str | None
    email: str | None


@dataclass
class LabelSpec:
    name: str
    type: str | None = None  # any | rectangle | skeleton | points ... (CVAT >= 2.3)
    parent: str | None = None  # skeleton sublabels name their skeleton
    attributes: dict[str, str] = field(default_factory=dict)  # name -> input_type
    svg: str | None = None  # skeletons: the drawing, whose <line>s are the edges


@dataclass
class Segment:
    """One job: frames ``start..stop`` (inclusive) of a task, and who it was assigned to."""

    task_id: str | None
    start: int
    stop: int
    assignee: Person | None


@dataclass
class Meta:
    kind: str | None = None  # task | job | project
    labels: dict[str, LabelSpec] = field(default_factory=dict)  # top-level labels
    parts: dict[str, list[str]] = field(default_factory=dict)  # skeleton -> its point labels
    segments: list[Segment] = field(default_factory=list)
    task_assignee: dict[str | None, Person | None] = field(default_factory=dict)
    task_subset: dict[str | None, str | None] = field(default_factory=dict)
    original_size: tuple[int, int] | None = None  # video tasks: (width, height) of every frame

    def keypoint_names(self, skeleton: str) -> list[str]:
        """Sublabels of a skeleton label, in the order the meta lists them."""
        return self.parts.get(skeleton, [])

    def skeleton_edges(self, skeleton: str) -> list[list[int]]:
        """Edges of a skeleton as 1-based index pairs into ``keypoint_names`` (COCO), read
        from the label's SVG: circles name their node (data-node-id, data-label-name),
        lines join two nodes (data-node-from, data-node-to)."""
        spec = self.labels.get(skeleton)
        if spec is None or not spec.svg:
            return []
        index = {n: i + 1 for i, n in enumerate(self.keypoint_names(skeleton))}
        node_name = {}
        for circle in re.findall(r"<circle\b[^>]*>", spec.svg):
            node, name = _svg_attr(circle, "data-node-id"), _svg_attr(circle, "data-label-name")
            if node is not None and name in index:
                node_name[node] = name
        edges = []
        for line in re.findall(r"<line\b[^>]*>", spec.svg):
            a = node_name.get(_svg_attr(line, "data-node-from") or "")
            b = node_name.get(_svg_attr(line, "data-node-to") or "")
            if a is not None and b is not None:
                edges.append([index[a], index[b]])
        return edges

    def segment_for(self, task_id: str | None, frame: int) -> Segment | None:
        """The first job whose frame range holds ``frame`` (jobs overlap when the task has
        ``overlap`` > 0; the earlier job wins)."""
        for seg in self.segments:
            if (seg.task_id == task_id or seg.task_id is None) and seg.start <= frame <= seg.stop:
                return seg
        return None


def _svg_attr(tag: str, name: str) -> str | None:
    found = re.search(rf'{name}="([^"]*)"', tag)
    return found.group(1) if found else None


def _text(el: Element | None, tag: str) -> str | None:
    if el is None:
        return None
    child = el.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _person(el: Element | None) -> Person | None:
    if el is None:
        return None
    username, email = _text(el, "username"), _text(el, "email")
    if username is None and email is None and el.text and el.text.strip():
        username = el.text.strip()  # oldest exports: <assignee>name</assignee>
    if username is None and email is None:
        return None
    return Person(username, email)


def _label(el: Element) -> LabelSpec:
    spec = LabelSpec(
        name=(el.findtext("name") or "").strip(),
        type=_text(el, "type"),
        parent=_text(el, "parent"),
        svg=el.findtext("svg"),
    )
    for attr in el.iterfind("attributes/attribute"):
        name = _text(attr, "name")
        if name is not None:
            spec.attributes[name] = (_text(attr, "input_type") or "text").lower()
            continue
        old = _OLD_ATTR.match((attr.text or "").strip())
        if old:
            spec.attributes[old["name"].strip()] = old["type"].lower()
    return spec


def _segments(el: Element, task_id: str | None, default: Person | None) -> list[Segment]:
    out = []
    for seg in el.iterfind("segments/segment"):
        start, stop = _text(seg, "start"), _text(seg, "stop")
        if start is None or stop is None:
            continue
        assignee = _person(seg.find("assignee")) or default
        out.append(Segment(task_id, int(start), int(stop), assignee))
    return out


def _task(meta: Meta, el: Element, *, job: bool = False) -> None:
    assignee = _person(el.find("assignee"))
    key = _text(el, "id") if meta.kind == "project" else None
    # In a job export the <assignee> is the job's: it owns the job's segment.
    meta.segments += _segments(el, key, assignee if job else None)
    meta.task_assignee[key] = assignee  # a job export is all one job: its assignee's
    subset = _text(el, "subset")
    meta.task_subset[key] = None if subset in (None, "default") else subset
    _labels(meta, el)


def _labels(meta: Meta, el: Element) -> None:
    for lab in el.iterfind("labels/label"):
        spec = _label(lab)
        if spec.parent is not None:
            meta.parts.setdefault(spec.parent, []).append(spec.name)
        else:
            meta.labels[spec.name] = spec


def parse_meta(el: Element) -> Meta:
    """Read a ``<meta>`` element. Raises ValueError on malformed numbers (the caller
    turns it into an InputError naming the field)."""
    meta = Meta()
    for kind in ("project", "task", "job"):
        node = el.find(kind)
        if node is None:
            continue
        meta.kind = kind
        if kind == "project":
            for task in node.iterfind("tasks/task"):
                _task(meta, task)
            _labels(meta, node)
        else:
            _task(meta, node, job=kind == "job")
        break
    size = el.find("original_size")
    if size is None and meta.kind is not None:
        size = el.find(f"{meta.kind}/original_size")
    if size is not None:
        w, h = _text(size, "width"), _text(size, "height")
        if w is not None and h is not None:
            meta.original_size = (int(w), int(h))
    return meta
