// Charts drawn as inline SVG, without any library or network access.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, text) {
  const e = document.createElementNS(SVGNS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// barChart returns an <svg> of horizontal bars: rows are {label, value, warn?}; fmt formats a value.
function barChart(rows, opts) {
  const o = Object.assign({ width: 640, bar: 22, gap: 6, labelWidth: 180, fmt: (v) => String(v), max: 0, title: "" }, opts || {});
  const top = o.title ? 24 : 4;
  const h = top + rows.length * (o.bar + o.gap) + 8;
  const svg = svgEl("svg", { viewBox: `0 0 ${o.width} ${h}`, width: o.width, height: h, role: "img", "aria-label": o.title });
  if (o.title) svg.appendChild(svgEl("text", { x: 4, y: 16, "font-weight": "600" }, o.title));
  const max = Math.max(o.max, ...rows.map((r) => r.value), 1);
  const plot = o.width - o.labelWidth - 70;
  svg.appendChild(svgEl("line", { class: "axis", x1: o.labelWidth, y1: top, x2: o.labelWidth, y2: h - 6 }));
  rows.forEach((r, i) => {
    const y = top + i * (o.bar + o.gap);
    const w = Math.max(1, Math.round((r.value / max) * plot));
    const g = svgEl("g", { "data-label": r.label });
    g.appendChild(svgEl("text", { x: o.labelWidth - 6, y: y + o.bar * 0.7, "text-anchor": "end" }, r.label));
    g.appendChild(svgEl("rect", { class: r.warn ? "bar warn" : "bar", x: o.labelWidth + 1, y, width: w, height: o.bar, rx: 3 }));
    g.appendChild(svgEl("text", { x: o.labelWidth + w + 6, y: y + o.bar * 0.7, class: "value" }, o.fmt(r.value)));
    svg.appendChild(g);
  });
  return svg;
}

window.wedgeCharts = { barChart };
