// lineage review site. Data is read from JSON blocks and drawn with DOM methods
// (textContent, setAttribute): nothing from the store is ever parsed as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function make(tag, attrs, text) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function jsonBlock(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

// ------------------------------------------------------------------ index

function indexPage() {
  const data = window.LINEAGE_INDEX;
  const list = document.getElementById("asset-list");
  if (!data || !list) return;
  const form = document.getElementById("filters");
  const state = { page: 1, kind: "", class: "", annotator: "" };
  for (const part of location.hash.slice(1).split("&")) {
    const [k, v] = part.split("=");
    if (k in state && v !== undefined) state[k] = k === "page" ? Math.max(1, parseInt(v, 10) || 1) : decodeURIComponent(v);
  }
  if (form) {
    for (const name of ["kind", "class", "annotator"]) {
      form.elements[name].value = state[name];
      form.elements[name].addEventListener("change", () => { state[name] = form.elements[name].value; state.page = 1; render(); });
    }
  }

  function matches(label) {
    const [kinds, classes, annotators] = label;
    return (!state.kind || kinds.includes(state.kind))
      && (!state.class || classes.includes(state.class))
      && (!state.annotator || annotators.includes(state.annotator));
  }

  function thumbnail(asset, labels) {
    const svg = make("svg:svg", { viewBox: `0 0 ${asset.w} ${asset.h}`, preserveAspectRatio: "xMidYMid meet" });
    if (asset.image) {
      svg.appendChild(make("svg:image", { href: asset.image, x: 0, y: 0, width: asset.w, height: asset.h, preserveAspectRatio: "none" }));
    } else {
      svg.appendChild(make("svg:rect", { class: "blank", x: 0, y: 0, width: asset.w, height: asset.h }));
    }
    for (const [kinds, , , boxA, boxB] of labels) {
      for (const [side, box] of [["a", boxA], ["b", boxB]]) {
        if (!box) continue;
        const g = make("svg:g", { class: `label side-${side} kind-${kinds[0]}` });
        g.appendChild(make("svg:rect", { class: "shape-box", x: box[0], y: box[1], width: box[2], height: box[3] }));
        svg.appendChild(g);
      }
    }
    return svg;
  }

  function pager(node, pages) {
    node.replaceChildren();
    if (pages <= 1) return;
    const add = (label, page) => {
      const b = make("button", { type: "button", "data-page": page }, label);
      if (page === state.page) b.setAttribute("aria-current", "page");
      b.addEventListener("click", () => { state.page = page; render(); window.scrollTo(0, 0); });
      node.appendChild(b);
    };
    if (state.page > 1) add("‹ prev", state.page - 1);
    const shown = new Set([1, pages, state.page - 2, state.page - 1, state.page, state.page + 1, state.page + 2]);
    let last = 0;
    for (const p of [...shown].filter((p) => p >= 1 && p <= pages).sort((a, b) => a - b)) {
      if (p > last + 1) node.appendChild(make("span", {}, "…"));
      add(String(p), p);
      last = p;
    }
    if (state.page < pages) add("next ›", state.page + 1);
  }

  function render() {
    const rows = [];
    for (const asset of data.assets) {
      const labels = data.mode === "diff" ? asset.labels.filter(matches) : asset.labels;
      if (data.mode !== "diff" || labels.length) rows.push([asset, labels]);
    }
    const pages = Math.max(1, Math.ceil(rows.length / data.pageSize));
    state.page = Math.min(state.page, pages);
    const start = (state.page - 1) * data.pageSize;
    list.replaceChildren();
    for (const [asset, labels] of rows.slice(start, start + data.pageSize)) {
      const li = make("li", { "data-asset": asset.id, "data-labels": labels.length });
      const a = make("a", { href: asset.href });
      a.appendChild(thumbnail(asset, labels));
      a.appendChild(make("div", { class: "name" }, asset.id));
      li.appendChild(a);
      if (data.mode === "diff") {
        const counts = {};
        for (const [kinds] of labels) for (const k of kinds) counts[k] = (counts[k] || 0) + 1;
        const p = make("div", { class: "counts" });
        p.appendChild(make("span", { class: "n" }, `${labels.length} changed`));
        for (const k of data.kinds.filter((k) => counts[k])) {
          const n = counts[k];
          p.appendChild(document.createTextNode(" "));
          p.appendChild(make("span", { class: `badge kind-${k}`, "data-kind": k }, `${k} ${n}`));
        }
        li.appendChild(p);
      }
      list.appendChild(li);
    }
    const shown = document.getElementById("shown");
    if (shown) {
      const n = rows.reduce((s, r) => s + r[1].length, 0);
      shown.textContent = `${rows.length} asset(s), ${n} changed label(s)`;
    }
    pager(document.getElementById("pager-top"), pages);
    pager(document.getElementById("pager-bottom"), pages);
    const hash = Object.entries(state).filter(([k, v]) => v && !(k === "page" && v === 1))
      .map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
    try {
      history.replaceState(null, "", hash ? `#${hash}` : location.pathname);
    } catch (err) {
      // some browsers refuse to rewrite file:// addresses; the list is drawn all the same
    }
  }
  render();
}

// ------------------------------------------------------------------ asset / label page

function fmtTime(t) {
  return t ? String(t).replace("T", " ").slice(0, 19) : "";
}

function historyPanel() {
  const histories = jsonBlock("histories");
  const panel = document.getElementById("history");
  if (!histories || !panel) return;
  const body = panel.querySelector("tbody");

  function cell(tr, text, cls) {
    tr.appendChild(make("td", cls ? { class: cls } : {}, text));
  }

  function attrsText(rev) {
    const parts = [];
    for (const [sign, key] of [["+", "attributes_added"], ["-", "attributes_removed"], ["~", "attributes_changed"]]) {
      for (const name of rev[key] || []) parts.push(sign + name);
    }
    return parts.join(" ");
  }

  function open(labelId) {
    const revisions = histories[labelId] || [];
    document.getElementById("history-label").textContent = labelId;
    body.replaceChildren();
    for (const rev of revisions) {
      const tr = make("tr", { class: "revision", "data-revision": rev.revision });
      cell(tr, rev.revision, "n");
      cell(tr, [rev.version, rev.branch].filter(Boolean).join(" · "));  // branch: merges
      cell(tr, fmtTime(rev.time));
      cell(tr, rev.op);
      cell(tr, rev.class_name || "");
      cell(tr, rev.annotator_id || "");
      cell(tr, [rev.source, rev.model_version].filter(Boolean).join(" "));
      cell(tr, rev.guideline_version || "");
      cell(tr, rev.iou === null || rev.iou === undefined ? "" : Number(rev.iou).toFixed(3), "n");
      cell(tr, attrsText(rev));
      body.appendChild(tr);
      for (const r of rev.reviews || []) {
        const rr = make("tr", { class: "review", "data-revision": rev.revision, "data-pass": r.pass });
        cell(rr, "");
        cell(rr, `pass ${r.pass} ${r.kind || ""}`.trim());
        cell(rr, fmtTime(r.reviewed_at));
        cell(rr, r.verdict || "");
        cell(rr, "");
        cell(rr, r.reviewer_id || "");
        cell(rr, r.reason || "");
        cell(rr, r.guideline_version || "");
        cell(rr, "");
        cell(rr, "");
        body.appendChild(rr);
      }
    }
    panel.hidden = false;
    panel.setAttribute("data-open", labelId);
    for (const node of document.querySelectorAll(".selected")) node.classList.remove("selected");
    for (const node of document.querySelectorAll("[data-label]")) {
      if (node.getAttribute("data-label") === labelId) node.classList.add("selected");
    }
  }

  for (const node of document.querySelectorAll("[data-label]")) {
    const id = node.getAttribute("data-label");
    node.addEventListener("click", () => open(id));
    node.addEventListener("keydown", (e) => { if (e.key === "Enter") open(id); });
  }
  const first = jsonBlock("open-label");
  if (first) open(first);
}

function keyboard() {
  document.addEventListener("keydown", (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || /INPUT|SELECT|TEXTAREA/.test(e.target.tagName)) return;
    const id = e.key === "ArrowLeft" ? "prev" : e.key === "ArrowRight" ? "next" : null;
    const link = id && document.getElementById(id);
    if (link) location.href = link.href;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  indexPage();
  historyPanel();
  keyboard();
});
