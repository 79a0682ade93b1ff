// What the exam console and the result page share: strings, 24-hour times, the JSON API with the session's CSRF
// token, and drawing a course (course metres: x east, y north) into an SVG. No external libraries.
"use strict";

const Exam = (() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const root = document.querySelector("[data-strings]");
  const STRINGS = JSON.parse(root.dataset.strings);
  const CSRF = (document.querySelector("meta[name=csrf-token]") || {}).content || "";

  // A string of the catalogue with {name} placeholders filled; an unknown key shows as itself.
  function t(key, values) {
    let s = STRINGS[key] === undefined ? key : STRINGS[key];
    for (const [k, v] of Object.entries(values || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }
  function esc(x) {
    return String(x === null || x === undefined ? "" : x).replace(/[&<>"']/g,
      c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  }
  const pad = n => String(n).padStart(2, "0");
  // Unix seconds (or an ISO 8601 text) as a local Date; null when absent.
  function toDate(ts) {
    if (ts === null || ts === undefined || ts === "") return null;
    const d = typeof ts === "number" ? new Date(ts * 1000) : new Date(ts);
    return isNaN(d.getTime()) ? null : d;
  }
  function fmtTime(ts) { const d = toDate(ts); return d ? `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` : "—"; }
  function fmtHm(ts) { const d = toDate(ts); return d ? `${pad(d.getHours())}:${pad(d.getMinutes())}` : "—"; }
  function fmtDateTime(ts) {
    const d = toDate(ts);
    return d ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtTime(ts)}` : "—";
  }
  function fmtDur(s) {
    if (s === null || s === undefined || isNaN(s)) return "—";
    s = Math.max(0, Math.round(s));
    return `${Math.floor(s / 60)}:${pad(s % 60)}`;
  }
  function today() { const d = new Date(); return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`; }

  const itemName = item => item ? t("exam_item_" + item) : t("exam_between_items");
  const fixName = q => q ? t("exam_fix_" + q) : "—";
  const fixBadge = q => q ? `<span class="fixq q-${esc(q)}">${esc(fixName(q))}</span>` : "—";
  const examStatus = s => s ? `<span class="st st-${esc(s)}">${esc(t("exam_st_" + s))}</span>` : "—";
  const candStatus = s => s ? `<span class="st st-${esc(s)}">${esc(t("exam_cand_" + s))}</span>` : "—";
  const cost = d => d.fail ? t("exam_fail") : t("exam_points", {n: d.points});

  // One call of the console API: JSON (or the given text body), the CSRF token, the answer's JSON and status.
  async function api(method, path, body, contentType) {
    const opts = {method, credentials: "same-origin", headers: {"X-CSRF-Token": CSRF, "Accept": "application/json"}};
    if (body !== undefined) {
      opts.headers["Content-Type"] = contentType || "application/json";
      opts.body = contentType ? body : JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    if (r.status === 401) { location.href = "/login"; }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return {ok: r.ok, status: r.status, data};
  }
  // The server's own words (English) for a refusal: kept for the element's title, shown only when nothing else fits.
  function serverWords(res) {
    const d = res.data && res.data.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map(e => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
    return `HTTP ${res.status}`;
  }
  // A refusal in the page's language: `keys` maps an HTTP status to a catalogue key for this action.
  function refusal(res, keys) {
    const key = (keys || {})[res.status] || {404: "exam_err_not_found", 409: "exam_err_not_now", 422: "exam_err_invalid"}[res.status];
    return key ? t(key) : `${t("exam_failed_request")} (HTTP ${res.status})`;
  }
  // One bad row of a candidate file (or form) in the page's language: [field, words the server used, catalogue key].
  const ROW_ERRORS = [
    ["header", "", "exam_err_header"], ["row", "columns", "exam_err_columns"], ["row", "no candidates", "exam_err_empty"],
    ["id_number", "twice", "exam_err_twice"], ["id_number", "already stored", "exam_err_stored"],
    ["id_number", "", "exam_err_id_number"], ["name", "", "exam_err_name"],
    ["licence_class", "", "exam_err_licence_class"], ["booking_time", "", "exam_err_booking_time"],
  ];
  function rowError(e) {
    const hit = ROW_ERRORS.find(([field, words]) => field === e.field && String(e.message || "").includes(words));
    return hit ? t(hit[2]) : String(e.message || "");
  }
  const fieldName = f => ({name: t("exam_name"), id_number: t("exam_id_number"), licence_class: t("exam_licence_class"),
    booking_time: t("exam_booking_time")})[f] || "";

  function el(parent, name, attrs, text) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  const pts = coords => coords.map(([e, n]) => `${e.toFixed(2)},${(-n).toFixed(2)}`).join(" ");

  // The course's areas, route and lines into `svg` (cleared first); the view box fits them with a margin.
  // Returns the layers later drawing goes into: {track, marks, cars}.
  function drawCourse(svg, course) {
    svg.replaceChildren();
    const feats = (course && course.features) || [];
    const all = feats.flatMap(f => f.coords || []);
    const es = all.map(c => c[0]), ns = all.map(c => c[1]);
    const [e0, e1, n0, n1] = all.length ? [Math.min(...es), Math.max(...es), Math.min(...ns), Math.max(...ns)] : [0, 100, 0, 50];
    const m = 6;
    svg.setAttribute("viewBox", `${(e0 - m).toFixed(1)} ${(-n1 - m).toFixed(1)} ${(e1 - e0 + 2 * m).toFixed(1)} ${(n1 - n0 + 2 * m).toFixed(1)}`);
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    const g = el(svg, "g", {class: "course"});
    for (const f of feats.filter(x => x.kind === "area")) {
      el(g, "polygon", {class: `area ${f.item}`, points: pts(f.coords)});
      const cx = f.coords.reduce((a, c) => a + c[0], 0) / f.coords.length;
      const top = Math.max(...f.coords.map(c => c[1]));
      el(g, "text", {class: "item-label", x: cx.toFixed(1), y: (-top - 1).toFixed(1), "text-anchor": "middle"}, itemName(f.item));
    }
    for (const f of feats.filter(x => x.kind === "line")) {
      el(g, "polyline", {class: f.role === "route" ? "route" : `line ${f.role}`, points: pts(f.coords)});
    }
    return {track: el(svg, "g", {class: "tracks"}), marks: el(svg, "g", {class: "marks"}), cars: el(svg, "g", {class: "cars"})};
  }

  // A car on the map: a body outline (4.5 x 1.8 m) turned to its heading, coloured by fix quality, and its name.
  function carMarker(layer, unit, index) {
    const g = el(layer, "g", {class: "car", "data-unit": unit});
    const body = el(g, "g", {class: "car-rot"});
    el(body, "polygon", {class: "car-body", points: "-2.25,0.9 1.6,0.9 2.25,0 1.6,-0.9 -2.25,-0.9"});
    el(g, "text", {class: "car-label", x: "0", y: String(-2.4 - 3.6 * ((index || 0) % 4)), "text-anchor": "middle"}, unit);
    return g;
  }
  function placeCar(g, e, n, headingDeg, quality) {
    g.setAttribute("transform", `translate(${e.toFixed(2)},${(-n).toFixed(2)})`);
    // heading: degrees clockwise from north; the outline points east (+x) when unturned
    const rot = headingDeg === null || headingDeg === undefined ? 0 : headingDeg - 90;
    g.firstChild.setAttribute("transform", `rotate(${rot.toFixed(1)})`);
    g.firstChild.firstChild.setAttribute("class", `car-body q-${quality || "invalid"}`);
    g.dataset.e = e.toFixed(2);
    g.dataset.n = n.toFixed(2);
  }

  return {t, esc, toDate, fmtTime, fmtHm, fmtDateTime, fmtDur, today, itemName, fixName, fixBadge, examStatus, candStatus,
    cost, api, refusal, serverWords, rowError, fieldName, el, pts, drawCourse, carMarker, placeCar, root};
})();
