// PassLane charts: inline SVG built with DOM calls. No library and no network (the dashboard must work on a site
// network without internet); the Content-Security-Policy allows no inline script, so this file is loaded by URL.
// Every chart takes its y-axis ticks from the server (cloud_bridge/figures.py nice_ticks: 0,1,2.. or 0,5,10..).
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 560, H = 220, L = 44, R = 12, TOP = 14, B = 30;
  const COLOURS = {bar: "#3f7fbf", over: "#e57373", limit: "#c62828", line: "#7b4fbf", sla: "#2e7d32", stage: "#2e9d6a", grid: "#e6eaef", axis: "#9aa7b4", text: "#5b6b7c"};

  function el(name, attrs, text) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A fresh <svg> in `box` (its old chart removed), sized by viewBox so CSS scales it.
  function root(box, label, h) {
    box.replaceChildren();
    const svg = el("svg", {viewBox: `0 0 ${W} ${h || H}`, role: "img", "aria-label": label, class: "chart"});
    svg.appendChild(el("title", {}, label));
    box.appendChild(svg);
    return svg;
  }

  // The y axis: a grid line and a label per tick; returns the value -> y mapping.
  function yAxis(svg, ticks, fmt) {
    const top = ticks[ticks.length - 1] || 1;
    const y = v => H - B - (H - B - TOP) * v / top;
    const g = el("g", {class: "y-axis"});
    for (const t of ticks) {
      g.appendChild(el("line", {x1: L, x2: W - R, y1: y(t), y2: y(t), stroke: COLOURS.grid}));
      g.appendChild(el("text", {x: L - 6, y: y(t) + 4, "text-anchor": "end", "font-size": 11, fill: COLOURS.text, class: "y-tick"}, fmt ? fmt(t) : String(t)));
    }
    g.appendChild(el("line", {x1: L, x2: L, y1: TOP, y2: H - B, stroke: COLOURS.axis}));
    g.appendChild(el("line", {x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: COLOURS.axis}));
    svg.appendChild(g);
    return y;
  }

  // x labels: `labels[i]` sits at `xs[i]`; shown at most `most` of them, evenly.
  function xLabels(svg, xs, labels, most) {
    const every = Math.max(1, Math.ceil(labels.length / most));
    const g = el("g", {class: "x-axis"});
    labels.forEach((text, i) => {
      if (text === "" || (i % every !== 0 && i !== labels.length - 1)) return;  // the last always: it is "now"
      const anchor = xs[i] >= W - R - 1 ? "end" : "middle";  // the right edge's label ("now") stays inside the chart
      g.appendChild(el("text", {x: xs[i], y: H - B + 15, "text-anchor": anchor, "font-size": 11, fill: COLOURS.text, class: "x-tick"}, text));
    });
    svg.appendChild(g);
  }

  function empty(svg, text) {
    svg.appendChild(el("text", {x: W / 2, y: H / 2, "text-anchor": "middle", "font-size": 13, fill: COLOURS.text, class: "no-data"}, text));
  }

  // Bars over a category axis. opts: values, ticks, xLabels (one per bar edge: values.length + 1, or per bar),
  // colour(i) -> fill, tip(i) -> tooltip text, marker {x: position in bars (0..n), label}, noData text.
  function bars(box, label, opts) {
    const svg = root(box, label);
    const n = opts.values.length, bw = (W - L - R) / Math.max(1, n);
    const y = yAxis(svg, opts.ticks, opts.yFmt);
    const g = el("g", {class: "bars"});
    opts.values.forEach((v, i) => {
      const h = H - B - y(v || 0);
      const r = el("rect", {x: L + i * bw + 1, y: y(v || 0), width: Math.max(1, bw - 2), height: Math.max(0, h), fill: opts.colour ? opts.colour(i) : COLOURS.bar, "data-value": v});
      if (opts.tip) r.appendChild(el("title", {}, opts.tip(i)));
      g.appendChild(r);
    });
    svg.appendChild(g);
    const edges = opts.xLabels.length === n + 1;
    xLabels(svg, opts.xLabels.map((_, i) => L + i * bw + (edges ? 0 : bw / 2)), opts.xLabels, opts.most || 8);
    if (opts.marker) {
      const x = L + opts.marker.x * bw;
      svg.appendChild(el("line", {x1: x, x2: x, y1: TOP, y2: H - B, stroke: COLOURS.limit, "stroke-width": 2.5, "stroke-dasharray": "6 4", class: "limit-line", "data-x": opts.marker.x}));
      svg.appendChild(el("text", {x: x + 4, y: TOP + 10, "font-size": 11, fill: COLOURS.limit, class: "limit-label"}, opts.marker.label));
    }
    if (opts.values.every(v => !v) && opts.noData) empty(svg, opts.noData);
    return svg;
  }

  // A line over time. opts: values (null: a gap), ticks, xLabels (one per point), colour, step (a queue), yFmt,
  // target {value, label} (a dashed line), noData.
  function line(box, label, opts) {
    const svg = root(box, label);
    const n = opts.values.length, dx = (W - L - R) / Math.max(1, n - 1);
    const y = yAxis(svg, opts.ticks, opts.yFmt);
    const xs = opts.values.map((_, i) => L + i * dx);
    let d = "", pen = false;
    opts.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      if (!pen) d += `M${xs[i]},${y(v)}`;
      else if (opts.step) d += `H${xs[i]}V${y(v)}`;
      else d += `L${xs[i]},${y(v)}`;
      pen = true;
    });
    if (opts.target) {
      svg.appendChild(el("line", {x1: L, x2: W - R, y1: y(opts.target.value), y2: y(opts.target.value), stroke: COLOURS.limit, "stroke-dasharray": "4 4", class: "target-line"}));
    }
    svg.appendChild(el("path", {d, fill: "none", stroke: opts.colour || COLOURS.line, "stroke-width": 2.5, class: "series"}));
    opts.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const c = el("circle", {cx: xs[i], cy: y(v), r: 2.5, fill: opts.colour || COLOURS.line, class: "point", "data-value": v});
      if (opts.tip) c.appendChild(el("title", {}, opts.tip(i)));
      svg.appendChild(c);
    });
    xLabels(svg, xs, opts.xLabels, opts.most || 7);
    if (opts.values.every(v => v === null || v === undefined) && opts.noData) empty(svg, opts.noData);
    return svg;
  }

  // Horizontal bars, one row each: rows [{label, value, text}].
  function hbars(box, label, rows) {
    const h = 24 * rows.length + 16, LW = 110, RW = 70;
    const svg = root(box, label, h);
    const max = Math.max(1, ...rows.map(r => r.value || 0));
    rows.forEach((r, i) => {
      const y = 8 + i * 24, w = (W - LW - RW) * (r.value || 0) / max;
      svg.appendChild(el("text", {x: LW - 6, y: y + 15, "text-anchor": "end", "font-size": 12, fill: "#1d2733"}, r.label));
      svg.appendChild(el("rect", {x: LW, y: y + 4, width: Math.max(r.value ? 2 : 0, w), height: 15, fill: COLOURS.stage}));
      svg.appendChild(el("text", {x: LW + w + 4, y: y + 15, "font-size": 11, fill: COLOURS.text}, r.text));
    });
    return svg;
  }

  return {bars, line, hbars, COLOURS};
})();
