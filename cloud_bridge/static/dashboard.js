// PassLane ops dashboard: polls /api/dashboard for the chosen time range and draws tables and inline SVG charts
// (static/charts.js). No external libraries, nothing fetched from outside the bridge.
"use strict";
// The page's strings come in a data attribute (the Content-Security-Policy allows no inline script, not even a JSON block).
const ROOT = document.getElementById("dashboard");
const T = JSON.parse(ROOT.dataset.strings);
const PREFIXES = JSON.parse(ROOT.dataset.prefixes);  // cloud_bridge/web/alerts.py VALUE_PREFIXES: one list for both pages
const RANGES = ["1h", "8h", "24h", "7d"];
let range = RANGES.includes(new URLSearchParams(location.search).get("range")) ? new URLSearchParams(location.search).get("range") : "24h";
let last = null, fetchedAt = 0;  // the latest answer and when it came (the clocks tick between answers)

function fmtDur(s) {
  if (s === null || s === undefined) return "—";
  s = Math.max(0, Math.round(s));
  const S = T.unit_s, M = T.unit_m, H = T.unit_h;
  if (s < 60) return s + S;
  const m = Math.floor(s / 60), r = s % 60;
  if (m < 60) return m + M + (r ? String(r).padStart(2, "0") + S : "");
  return Math.floor(m / 60) + H + String(m % 60).padStart(2, "0") + M;
}
const fill = (template, values) => template.replace(/\{([a-z_]+)\}/g, (_, k) => values[k] ?? "");
// A stored value (an event kind, an outcome, a rule) in the page's words: its catalogue entry, else the value itself.
function tv(prefix, value) { return value === null || value === undefined || value === "" ? "" : (T[prefix + value] || String(value)); }
// A lane's stage: an event kind (the case view), or the station stage its telemetry names (inspection, payment, ...).
const stageText = value => value ? (T["ev_" + value] || T["stage_" + value] || String(value)) : "";
function esc(x) { return String(x === null || x === undefined ? "" : x).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }
const pct = x => x === null || x === undefined ? "—" : Math.round(x * 100) + "%";
const two = n => String(n).padStart(2, "0");
const hhmm = ts => { if (!ts) return "—"; const d = new Date(ts * 1000); return two(d.getHours()) + ":" + two(d.getMinutes()); };
const hhmmss = ts => { const d = new Date(ts * 1000); return hhmm(ts) + ":" + two(d.getSeconds()); };

// An alert's detail from its code and values, as cloud_bridge/web/alerts.py alert_text words it on the alerts page.
function valueText(name, v, scale) {
  if (v === null || v === undefined || v === "") return "—";
  if (typeof v === "number") {
    if (name.endsWith("_real_s")) return fmtDur(v);
    if (name.endsWith("_s")) return fmtDur(v * scale);
    if (name === "at") return hhmmss(v);
  }
  const p = PREFIXES[name];
  return p ? (T[p + v] || String(v)) : String(v);
}
function alertText(a, scale) {
  const template = T["ad_" + a.code];
  if (!template) return a.detail || "";
  return template.replace(/\{([a-z_]+)\}/g, (_, k) => valueText(k, (a.values || {})[k], scale));
}

// Seconds of real time since the answer came: the unit's silence grows by it, an open case's time by it times the scale.
const sinceFetch = () => (Date.now() - fetchedAt) / 1000;

// A moment of the range on the x axis: the clock at a real site, time before now in a simulation (its clock is not the site's).
function spanText(siteS) {
  const m = Math.round(siteS / 60);
  if (m === 0) return T.rel_now;
  return m % 60 === 0 ? (m / 60) + T.unit_h : m + T.unit_m;
}
function momentLabel(ts, d) {
  if (d.simulated) return ts >= d.now - 1 ? T.rel_now : "-" + spanText((d.now - ts) * d.time_scale);
  const t = new Date(ts * 1000);
  return d.range === "7d" ? `${two(t.getMonth() + 1)}-${two(t.getDate())} ${two(t.getHours())}:00` : hhmm(ts);
}

function drawHistogram(h, simulated) {
  const values = h.overflow ? [...h.counts, h.overflow] : h.counts;
  const edges = [];
  for (let i = 0; i <= h.counts.length; i++) edges.push(String(i * h.bin_minutes));
  if (h.overflow) edges.push(">" + h.max_minutes);
  // minutes labelled at a round step that is a whole number of bins (0, 10, 20, 30, ... for 2-minute bins)
  const step = [1, 2, 5, 10, 15, 30, 60, 120].find(m => m % h.bin_minutes === 0 && h.max_minutes / m <= 10) || h.max_minutes;
  const labels = edges.map((e, i) => (i * h.bin_minutes) % step === 0 || e.startsWith(">") ? e : "");
  const limitLabel = fill(T.limit_min, {n: Math.round(h.limit_minutes)});
  const unit = simulated ? T.hist_sim_minutes : T.hist_minutes;
  document.getElementById("histogram-title").textContent = unit;
  Charts.bars(document.getElementById("histogram"), unit, {
    values, ticks: h.y_ticks, xLabels: labels, most: labels.length,
    colour: i => (i * h.bin_minutes >= h.limit_minutes ? Charts.COLOURS.over : Charts.COLOURS.bar),
    tip: i => `${edges[i]}–${edges[i + 1] || ""}: ${values[i]} ${T.hist_cases}`,
    marker: {x: h.limit_minutes / h.bin_minutes, label: limitLabel},
    noData: T.chart_no_data,
  });
}

function drawSeries(d) {
  const s = d.series, b = s.buckets, limitMin = Math.round(d.figures.limit_s / 60);
  // a label every 15 min, 2 h, 4 h or day, counted back from "now" so that each falls on a round time before it
  const every = {300: 3, 1800: 4, 3600: 4, 21600: 4}[Math.round(s.bucket_s)] || 1;
  const labels = b.map((x, i) => ((b.length - 1 - i) % every === 0 ? momentLabel(x.t1, d) : ""));
  const tips = b.map(x => momentLabel(x.t1, d));
  const edges = [b[0].t0, ...b.map(x => x.t1)];  // the bars' edges: a bar is the time between two
  const edgeLabels = edges.map((t, j) => ((edges.length - 1 - j) % every === 0 ? momentLabel(t, d) : ""));
  const bucket = T["bucket_" + Math.round(s.bucket_s)] || fmtDur(s.bucket_s);
  const title = fill(T.chart_throughput, {bucket});
  document.getElementById("throughput-title").textContent = title;
  Charts.bars(document.getElementById("chart-throughput"), title, {
    values: b.map(x => x.registered), ticks: s.registered_ticks, xLabels: edgeLabels, most: edgeLabels.length,
    tip: i => `${tips[i]}: ${b[i].registered}`, noData: T.chart_no_data,
  });
  Charts.line(document.getElementById("chart-queue"), T.chart_queue, {
    values: b.map(x => x.queue), ticks: s.queue_ticks, xLabels: labels, most: labels.length, step: true,
    tip: i => `${tips[i]}: ${b[i].queue}`,
  });
  const sla = fill(T.chart_sla, {n: limitMin});
  document.getElementById("sla-title").textContent = sla;
  Charts.line(document.getElementById("chart-sla"), sla, {
    values: b.map(x => x.sla_share === null ? null : Math.round(x.sla_share * 100)), ticks: [0, 25, 50, 75, 100], yFmt: v => v + "%",
    xLabels: labels, most: labels.length, colour: Charts.COLOURS.sla, target: {value: 100}, tip: i => `${tips[i]}: ${pct(b[i].sla_share)}`,
    noData: T.chart_no_data,
  });
}

function drawStages(stages) {
  Charts.hbars(document.getElementById("stages"), T.stage_times, stages.map(s => ({label: T[s.stage] || s.stage, value: s.mean_s || 0, text: fmtDur(s.mean_s)})));
}

// The exam sites beside the lanes (GET /api/exam/summary): cars online, exams in progress, the day's results and pass
// rates per item, and the invalid and interrupted runs with their reasons.
function renderExamSites(sites) {
  const card = document.getElementById("exam-sites-card");
  card.hidden = !sites.length;
  if (card.hidden) return;
  const d = new Date();
  document.getElementById("exam-day").textContent = `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  document.querySelector("#exam-sites tbody").innerHTML = sites.map(s => {
    const r = s.results;
    return `<tr data-site="${esc(s.site)}"><td>${esc(s.site)}</td><td>${s.cars_online} / ${s.cars}</td><td>${s.in_progress}</td>` +
      `<td>${r.passed}</td><td>${r.failed}</td><td>${r.invalid}</td><td>${r.interrupted}</td><td>${pct(s.pass_rate)}</td></tr>`;
  }).join("");
  const order = ["reverse_into_bay", "hill_stop_and_start", "parallel_park", "s_curve", "right_angle_turn"];  // the course's
  const rank = i => order.indexOf(i.item) < 0 ? order.length : order.indexOf(i.item);
  document.querySelector("#exam-items tbody").innerHTML = sites.flatMap(s => [...s.items].sort((a, b) => rank(a) - rank(b)).map(i =>
    `<tr><td>${esc(s.site)}</td><td>${esc(T["exam_item_" + i.item] || i.item)}</td><td>${pct(i.rate)} <span class="muted small">(${i.passed}/${i.driven})</span></td>` +
    `<td><meter min="0" max="1" value="${Number(i.rate) || 0}"></meter></td></tr>`)).join("") ||
    `<tr><td colspan="4" class="muted">${esc(T.exam_none)}</td></tr>`;
  const runs = sites.flatMap(s => s.unjudged);
  document.querySelector("#exam-abnormal tbody").innerHTML = runs.map(a =>
    `<tr data-exam="${esc(a.exam_id)}"><td class="mono small"><a href="/exam/exams/${encodeURIComponent(a.exam_id)}">${esc(a.exam_id)}</a></td><td>${esc(a.unit)}</td>` +
    `<td>${esc(T["exam_st_" + a.status] || a.status)}</td><td>${esc(a.reason || "")}</td><td>${hhmm(a.ended_at || a.started_at)}</td></tr>`).join("") ||
    `<tr><td colspan="5" class="muted">${esc(T.exam_none)}</td></tr>`;
}

// The clocks that move between answers: how long since each unit was heard from, and each open case's time left.
function tick() {
  if (!last) return;
  const gone = sinceFetch();
  for (const cell of document.querySelectorAll("#lanes td.heard")) {
    const age = cell.dataset.age === "" ? null : Number(cell.dataset.age) + gone;
    cell.textContent = age === null ? T.never_heard : fill(T.rel_ago, {d: fmtDur(age)});
    cell.classList.toggle("heard-warn", age !== null && age > last.heard.warn_s && age <= last.heard.late_s);
    cell.classList.toggle("heard-late", age === null || age > last.heard.late_s);
  }
  for (const row of document.querySelectorAll("#open-cases tr[data-case]")) {
    const elapsed = Number(row.dataset.elapsed) + gone * last.time_scale;
    const left = Number(row.dataset.remaining) - gone * last.time_scale;
    row.querySelector(".elapsed").textContent = fmtDur(elapsed);
    const cell = row.querySelector(".remaining");
    cell.textContent = left >= 0 ? fmtDur(left) : fill(T.overdue_by, {d: fmtDur(-left)});
    cell.classList.toggle("overdue", left < 0);
    cell.classList.toggle("due-soon", left >= 0 && left < last.figures.limit_s / 6);
  }
}

// Where ops drill down: a lane's cases, an alert's case or exam (its evidence), else the lane it names.
const laneCases = unit => `/cases?unit=${encodeURIComponent(unit)}`;
function alertHref(a) {
  if (a.case_id) return String(a.rule).startsWith("exam") ? `/exam/exams/${encodeURIComponent(a.case_id)}` : `/cases/${encodeURIComponent(a.case_id)}`;
  return a.unit ? laneCases(a.unit) : "/alerts";
}

function renderLanes(d) {
  const rows = [];
  for (const s of d.sites) for (const u of s.units) {
    const boards = u.boards.map(b => `<span class="badge ${b.online ? "up" : "down"}">${esc(tv("dev_", b.name))}</span>`).join("");
    rows.push(`<tr data-unit="${esc(u.unit)}"><td>${esc(s.site)}</td><td><a href="${laneCases(u.unit)}">${esc(u.unit)}</a></td>` +
      // a unit whose last word was "online" but that has been silent past the limit is offline all the same
      `<td class="${u.online ? "online" : "offline"}">${u.online || u.state === "online" ? (u.online ? T.online : T.offline) : (T[u.state] || T.offline)}</td>` +
      `<td class="heard" data-age="${u.last_seen_age_s ?? ""}"></td>` +
      `<td data-stage="${esc(u.stage || "")}">${esc(stageText(u.stage))}</td><td>${fmtDur(u.stage_age_s)}</td><td>${u.queue}</td><td>${boards}</td><td>${u.outbox_depth ?? "—"}</td></tr>`);
  }
  document.querySelector("#lanes tbody").innerHTML = rows.join("");
  document.querySelector("#lane-compare tbody").innerHTML = d.lanes.map(l =>
    `<tr data-unit="${esc(l.unit)}"><td><a href="${laneCases(l.unit)}">${esc(l.unit)}</a></td><td>${l.registered}</td><td>${l.per_hour === null ? "—" : l.per_hour.toFixed(1)}</td>` +
    `<td>${fmtDur(l.median_s)}</td><td>${pct(l.within_limit_share)}</td><td>${l.open}</td></tr>`).join("");
  document.querySelector("#open-cases tbody").innerHTML = d.open_cases.map(c =>
    `<tr data-case="${esc(c.case_id)}" data-elapsed="${c.elapsed_s}" data-remaining="${c.remaining_s}"><td class="mono small"><a href="/cases/${encodeURIComponent(c.case_id)}">${esc(c.case_id)}</a></td>` +
    `<td>${esc(c.unit)}</td><td>${esc(stageText(c.stage))}</td><td class="elapsed"></td><td class="remaining"></td></tr>`).join("") ||
    `<tr><td colspan="5" class="muted">${esc(T.no_open_cases)}</td></tr>`;
}

function render(d) {
  last = d; fetchedAt = Date.now();
  const f = d.figures, limitMin = Math.round(f.limit_s / 60), sim = d.simulated ? ` (${T.dash_sim_badge})` : "";
  document.getElementById("fig-registered").textContent = f.registered;
  document.getElementById("fig-median").textContent = fmtDur(f.median_s);
  document.getElementById("fig-median-label").textContent = T.median + sim;
  document.getElementById("fig-p95").textContent = fmtDur(f.p95_s);
  document.getElementById("fig-p95-label").textContent = T.p95 + sim;
  document.getElementById("fig-within").textContent = pct(f.within_limit_share);
  document.getElementById("fig-within-label").textContent = fill(T.within_min, {n: limitMin});
  document.getElementById("lane-compare-within").textContent = fill(T.within_min, {n: limitMin});
  document.getElementById("fig-events").textContent = d.counts.events_stored;
  document.getElementById("fig-dead").textContent = d.counts.dead_letters;
  renderLanes(d);
  document.querySelector("#alerts tbody").innerHTML = d.alerts.map(a =>
    `<tr class="sev-${esc(a.severity)}" data-code="${esc(a.code || "")}"><td>${esc(tv("sev_", a.severity))}</td><td data-rule="${esc(a.rule)}">${esc(tv("rule_", a.rule))}</td>` +
    `<td class="alert-detail"><a href="${esc(alertHref(a))}">${esc(alertText(a, d.time_scale))}</a></td><td>${a.count}</td><td>${esc(tv("alert_", a.status))}</td></tr>`).join("");
  drawHistogram(f.histogram, d.simulated);
  drawStages(f.stages);
  drawSeries(d);
  tick();
  document.body.dataset.rendered = String(Date.now());
  document.body.dataset.range = d.range;
}

function showRange() {
  for (const b of document.querySelectorAll("#range-picker button")) b.setAttribute("aria-pressed", String(b.dataset.range === range));
}

let asked = 0;  // answers to an older range that arrive late are dropped
async function refresh() {
  const mine = ++asked;
  try {
    const [r, x] = await Promise.all([
      fetch("/api/dashboard?range=" + encodeURIComponent(range), {credentials: "same-origin"}),
      fetch("/api/exam/summary", {credentials: "same-origin"}),
    ]);
    if (r.status === 401) { location.href = "/login"; return; }
    if (mine !== asked) return;
    renderExamSites(x.ok ? await x.json() : []);
    render(await r.json());
  } catch (e) { console.error(e); }
}

document.getElementById("range-picker").addEventListener("click", ev => {
  const b = ev.target.closest("button[data-range]");
  if (!b || b.dataset.range === range) return;
  range = b.dataset.range;
  const url = new URL(location.href);
  url.searchParams.set("range", range);
  history.replaceState(null, "", url);
  showRange();
  refresh();
});
showRange();
refresh();
setInterval(refresh, 3000);
setInterval(tick, 1000);
