// PassLane ops dashboard: polls /api/dashboard and draws tables and charts on canvas. No external libraries.
"use strict";
// The page's strings come in a data attribute (the Content-Security-Policy allows no inline script, not even a JSON block).
const T = JSON.parse(document.getElementById("dashboard").dataset.strings);

function fmtDur(s) {
  if (s === null || s === undefined) return "—";
  s = Math.max(0, Math.round(s));
  const S = T.unit_s, M = T.unit_m, H = T.unit_h;
  if (s < 60) return s + S;
  const m = Math.floor(s / 60), r = s % 60;
  if (m < 60) return m + M + (r ? String(r).padStart(2, "0") + S : "");
  return Math.floor(m / 60) + H + String(m % 60).padStart(2, "0") + M;
}
// A stored value (an event kind, an outcome, a rule) in the page's words: its catalogue entry, else the value itself.
function tv(prefix, value) { return value === null || value === undefined || value === "" ? "" : (T[prefix + value] || String(value)); }
function esc(x) { return String(x === null || x === undefined ? "" : x).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }

function drawHistogram(canvas, h) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height, L = 36, B = 28, R = 8, TOP = 12;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, W, H);
  const counts = h.counts, n = counts.length, max = Math.max(1, ...counts);
  const bw = (W - L - R) / n;
  ctx.strokeStyle = "#9aa7b4"; ctx.beginPath(); ctx.moveTo(L, TOP); ctx.lineTo(L, H - B); ctx.lineTo(W - R, H - B); ctx.stroke();
  ctx.fillStyle = "#5b6b7c"; ctx.font = "11px sans-serif"; ctx.textAlign = "right";
  for (let i = 0; i <= 4; i++) { const v = Math.round(max * i / 4), y = H - B - (H - B - TOP) * i / 4; ctx.fillText(String(v), L - 4, y + 4); }
  ctx.textAlign = "center";
  for (let i = 0; i < n; i++) {
    const x = L + i * bw, bh = (H - B - TOP) * counts[i] / max;
    const minutes = i * h.bin_minutes;
    ctx.fillStyle = minutes >= h.limit_minutes ? "#e57373" : "#3f7fbf";
    ctx.fillRect(x + 1, H - B - bh, Math.max(1, bw - 2), bh);
    if (i % 5 === 0) { ctx.fillStyle = "#5b6b7c"; ctx.fillText(i === n - 1 ? h.max_minutes + "+" : String(minutes), x + bw / 2, H - B + 14); }
  }
  const lx = L + (h.limit_minutes / h.bin_minutes) * bw;
  ctx.strokeStyle = "#c62828"; ctx.lineWidth = 2; ctx.setLineDash([6, 4]);
  ctx.beginPath(); ctx.moveTo(lx, TOP); ctx.lineTo(lx, H - B); ctx.stroke(); ctx.setLineDash([]); ctx.lineWidth = 1;
  ctx.fillStyle = "#c62828"; ctx.textAlign = "left"; ctx.fillText(T.limit30, lx + 4, TOP + 10);
}

function drawStages(canvas, stages) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height, L = 110, R = 60, TOP = 8;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = "#ffffff"; ctx.fillRect(0, 0, W, H);
  const max = Math.max(1, ...stages.map(s => s.mean_s || 0));
  const rowH = (H - TOP * 2) / Math.max(1, stages.length);
  ctx.font = "12px sans-serif";
  stages.forEach((s, i) => {
    const y = TOP + i * rowH, w = (W - L - R) * (s.mean_s || 0) / max;
    ctx.fillStyle = "#1d2733"; ctx.textAlign = "right"; ctx.fillText(T[s.stage] || s.stage, L - 6, y + rowH / 2 + 4);
    ctx.fillStyle = "#2e9d6a"; ctx.fillRect(L, y + rowH * 0.2, Math.max(s.mean_s ? 2 : 0, w), rowH * 0.6);
    ctx.fillStyle = "#5b6b7c"; ctx.textAlign = "left"; ctx.fillText(fmtDur(s.mean_s), L + w + 4, y + rowH / 2 + 4);
  });
}

const pct = x => x === null || x === undefined ? "—" : Math.round(x * 100) + "%";
const hhmm = ts => { if (!ts) return "—"; const d = new Date(ts * 1000); return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0"); };

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

function render(d) {
  const f = d.today;
  document.getElementById("fig-registered").textContent = f.registered;
  document.getElementById("fig-median").textContent = fmtDur(f.median_s);
  document.getElementById("fig-p95").textContent = fmtDur(f.p95_s);
  document.getElementById("fig-within").textContent = f.within_limit_share === null ? "—" : Math.round(f.within_limit_share * 100) + "%";
  document.getElementById("fig-events").textContent = d.counts.events_stored;
  document.getElementById("fig-dead").textContent = d.counts.dead_letters;
  const rows = [];
  for (const s of d.sites) for (const u of s.units) {
    const boards = u.boards.map(b => `<span class="badge ${b.online ? "up" : "down"}">${esc(b.name)}</span>`).join("");
    rows.push(`<tr data-unit="${esc(u.unit)}"><td>${esc(s.site)}</td><td>${esc(u.unit)}</td>` +
      `<td class="${u.online ? "online" : "offline"}">${u.online ? T.online : (T[u.state] || T.offline)}</td>` +
      `<td data-stage="${esc(u.stage || "")}">${esc(tv("ev_", u.stage))}</td><td>${fmtDur(u.stage_age_s)}</td><td>${u.queue}</td><td>${boards}</td><td>${u.outbox_depth ?? "—"}</td></tr>`);
  }
  document.querySelector("#lanes tbody").innerHTML = rows.join("");
  document.querySelector("#alerts tbody").innerHTML = d.alerts.map(a =>
    `<tr class="sev-${esc(a.severity)}"><td>${esc(tv("sev_", a.severity))}</td><td data-rule="${esc(a.rule)}">${esc(tv("rule_", a.rule))}</td><td>${esc(a.detail)}</td><td>${a.count}</td><td>${esc(tv("alert_", a.status))}</td></tr>`).join("");
  drawHistogram(document.getElementById("histogram"), f.histogram);
  drawStages(document.getElementById("stages"), f.stages);
  document.body.dataset.rendered = String(Date.now());
}

async function refresh() {
  try {
    const [r, x] = await Promise.all([fetch("/api/dashboard", {credentials: "same-origin"}), fetch("/api/exam/summary", {credentials: "same-origin"})]);
    if (r.status === 401) { location.href = "/login"; return; }
    renderExamSites(x.ok ? await x.json() : []);
    render(await r.json());
  } catch (e) { console.error(e); }
}
refresh();
setInterval(refresh, 3000);
