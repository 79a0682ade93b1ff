// The exam console (/exam): today's candidates (import, add, check in, start on a free car), the cars, the live map
// fed by the SSE stream /api/exam/live, exams in progress and finished today. Reads and writes the JSON console API.
"use strict";

(() => {
  const {t, esc, api, refusal, serverWords} = Exam;
  const $ = id => document.getElementById(id);
  // today, as the page's clock says: a console left open overnight moves on to the new day's lists
  const day = () => {
    const d = Exam.today();
    if ($("cand-day") && $("cand-day").textContent !== d) $("cand-day").textContent = d;
    return d;
  };
  const state = {cars: new Map(), candidates: [], exams: [], courseName: null, layers: null, markers: new Map()};

  function say(id, ok, html, res) {
    const node = $(id);
    node.className = "msg " + (ok ? "ok" : "error");
    node.innerHTML = html;
    node.title = res && !ok ? serverWords(res) : "";  // the bridge's own words, for whoever supports the site
  }
  // which site an import or a new candidate is for: the one chosen when the bridge hears several
  const siteChoice = () => ($("site-choice") && !$("site-choice").hidden ? $("site-choice").value : "");

  const none = cols => `<tr class="empty"><td colspan="${cols}" class="muted">${esc(t("exam_none"))}</td></tr>`;

  // ---------------------------------------------------------------- the cars and the live map
  const freeCars = () => [...state.cars.values()].filter(c => c.online && !c.busy);

  function renderCars() {
    const rows = [...state.cars.values()].sort((a, b) => a.unit.localeCompare(b.unit)).map(c => {
      const p = c.position || {};
      const st = !c.online ? `<span class="offline">${esc(t("offline"))}</span>`
        : `<span class="online">${esc(t("online"))}</span> · ${esc(c.busy ? t("exam_busy") : t("exam_free"))}`;
      const exam = c.busy ? c.exam_id || p.exam_id : null;  // a car's last position may name an exam since ended
      const cand = exam ? `<a href="/exam/exams/${encodeURIComponent(exam)}">${esc(c.candidate || exam)}</a>` : "";
      return `<tr data-car="${esc(c.unit)}"><td>${esc(c.unit)}</td><td>${st}</td><td class="fix">${Exam.fixBadge(p.quality || c.quality)}</td>` +
        `<td>${cand}</td><td class="item">${exam ? esc(Exam.itemName(p.item)) : ""}</td><td class="score">${exam ? p.score ?? "" : ""}</td></tr>`;
    });
    document.querySelector("#cars tbody").innerHTML = rows.join("") || none(6);
  }

  function moveCar(p) {
    if (!state.layers || p.e === null || p.e === undefined) return;
    let g = state.markers.get(p.unit);
    if (!g) {
      // cars close together (or a demo's cars, each in its own world) keep their names apart
      g = Exam.carMarker(state.layers.cars, p.unit, state.markers.size);
      state.markers.set(p.unit, g);
    }
    Exam.placeCar(g, p.e, p.n, p.heading_deg, p.quality);
    // when the bridge heard it (a car's last position, replayed when the stream opens, may be old)
    g.dataset.seen = String(p.received_at ? Math.min(Date.now(), p.received_at * 1000) : Date.now());
    g.classList.toggle("stale", Date.now() - Number(g.dataset.seen) > 3000);
  }

  function onPosition(p) {
    const car = state.cars.get(p.unit) || {unit: p.unit, online: true};
    car.position = p;
    car.quality = p.quality;
    state.cars.set(p.unit, car);
    moveCar(p);
    const row = document.querySelector(`#cars tr[data-car="${CSS.escape(p.unit)}"]`);
    if (!row) { renderCars(); return; }
    row.querySelector(".fix").innerHTML = Exam.fixBadge(p.quality);
    row.querySelector(".item").textContent = p.exam_id && car.busy ? Exam.itemName(p.item) : "";
    row.querySelector(".score").textContent = p.exam_id && car.busy ? p.score ?? "" : "";
    const run = document.querySelector(`#exams-running tr[data-exam="${CSS.escape(p.exam_id || "")}"]`);
    if (run) { run.querySelector(".item").textContent = Exam.itemName(p.item); run.querySelector(".score").textContent = p.score ?? ""; }
  }

  async function loadCourse(name) {
    if (!name || name === state.courseName) return;
    const res = await api("GET", "/api/exam/courses/" + encodeURIComponent(name));
    if (!res.ok) return;
    state.courseName = name;
    $("course-name").textContent = $("course-choice").hidden ? name : "";
    $("course-choice").value = name;
    state.layers = Exam.drawCourse($("course-map"), res.data);
    state.markers.clear();
    for (const c of state.cars.values()) if (c.position) moveCar(c.position);
  }

  async function loadCars() {
    const res = await api("GET", "/api/exam/cars");
    if (!res.ok) return;
    for (const c of res.data) {
      const known = state.cars.get(c.unit) || {};
      state.cars.set(c.unit, {...known, ...c, position: known.position || c.position || null});
    }
    renderCars();
    renderSites();
    // the course a car is on (or last drove); before any exam, the one chosen on the page
    const withCourse = res.data.find(c => c.busy && c.course) || res.data.find(c => c.course);
    const name = state.courseName || (withCourse ? withCourse.course : $("course-choice").value);
    if (name) await loadCourse(name);
    for (const c of state.cars.values()) if (c.position) moveCar(c.position);
  }

  // The result that stands: an examiner's override, else the electronic judgement; "(overridden)" beside an override.
  function finalResult(status, override) {
    if (!override) return Exam.examStatus(status);
    const word = override.passed ? "passed" : "failed";
    return `${Exam.examStatus(word)} <span class="muted small">${esc(t("exam_overridden_short"))}</span>`;
  }

  // A bridge that hears several exam sites: the operator says which site an import or a new candidate is for.
  function renderSites() {
    const sel = $("site-choice");
    const sites = [...new Set([...state.cars.values()].map(c => c.site).filter(Boolean))].sort();
    sel.hidden = sites.length < 2;
    if (sites.join() !== [...sel.options].map(o => o.value).join()) {
      const was = sel.value;
      sel.innerHTML = sites.map(x => `<option value="${esc(x)}">${esc(x)}</option>`).join("");
      if (sites.includes(was)) sel.value = was;
    }
  }

  // ---------------------------------------------------------------- candidates
  function startCell(c) {
    if (c.status === "booked") return `<button class="row-check-in" data-id="${esc(c.id_number)}">${esc(t("exam_check_in"))}</button>`;
    if (c.status !== "checked_in") return "";
    const cars = freeCars();
    if (!cars.length) return `<span class="muted">${esc(t("exam_no_free_car"))}</span>`;
    const opts = cars.map(car => `<option value="${esc(car.unit)}">${esc(car.unit)}</option>`).join("");
    return `<select class="car-choice" aria-label="${esc(t("exam_choose_car"))}">${opts}</select> ` +
      `<button class="start" data-candidate="${esc(c.candidate_id)}">${esc(t("exam_start"))}</button>`;
  }
  const masked = id => id && id.length === 18 ? id.slice(0, 6) + "********" + id.slice(14) : (id || "");

  function renderCandidates() {
    // keep each row's chosen car across a refresh (the lists refresh as cars and exams change)
    const chosen = new Map([...document.querySelectorAll("#candidates tr[data-candidate]")].map(tr =>
      [tr.dataset.candidate, (tr.querySelector(".car-choice") || {}).value]));
    document.querySelector("#candidates tbody").innerHTML = state.candidates.map(c => {  // by booking time (the API's order)
      const override = (state.exams.find(e => e.exam_id === c.exam_id) || {}).override;
      const result = c.exam_status && c.exam_status !== "running" ? ` ${finalResult(c.exam_status, override)} ${c.score ?? ""}` : "";
      const car = c.exam_id ? `<a href="/exam/exams/${encodeURIComponent(c.exam_id)}">${esc(c.car || c.exam_id)}</a>${result}` : esc(c.car || "");
      return `<tr data-candidate="${esc(c.candidate_id)}" data-id-number="${esc(c.id_number)}"><td class="nowrap">${esc(Exam.fmtHm(c.booked_at))}</td>` +
        `<td>${esc(c.name)}</td><td class="num">${esc(masked(c.id_number))}</td><td>${esc(c.licence_class)}</td>` +
        `<td>${Exam.candStatus(c.status)}</td><td>${car}</td><td class="nowrap">${startCell(c)}</td></tr>`;
    }).join("") || none(7);
    for (const sel of document.querySelectorAll("#candidates .car-choice")) {
      const was = chosen.get(sel.closest("tr").dataset.candidate);
      if (was && [...sel.options].some(o => o.value === was)) sel.value = was;
    }
  }

  async function loadCandidates() {
    const res = await api("GET", "/api/exam/candidates?day=" + encodeURIComponent(day()));
    if (res.ok) { state.candidates = res.data; renderCandidates(); }
  }

  async function checkIn(idNumber) {
    const res = await api("POST", "/api/exam/check-in", {id_number: idNumber});
    const name = res.ok ? (res.data.name || idNumber) : "";
    say("check-in-msg", res.ok, esc(res.ok ? t("exam_checked_in", {name}) : refusal(res, {404: "exam_err_no_booking", 409: "exam_err_checked_in"})), res);
    if (res.ok) { $("check-in-id").value = ""; await loadCandidates(); }
  }

  async function importCsv() {
    const file = $("import-file").files[0];
    if (!file) { say("import-msg", false, esc(t("exam_choose_file"))); return; }
    const site = siteChoice() ? "?site=" + encodeURIComponent(siteChoice()) : "";
    const res = await api("POST", "/api/exam/candidates/import" + site, await file.text(), "text/csv");
    if (res.ok) {
      say("import-msg", true, esc(t("exam_imported", {n: res.data.imported})));
      $("import-file").value = "";
      $("import-file-name").textContent = t("exam_no_file");
      await loadCandidates();
    } else if (res.data && Array.isArray(res.data.errors)) {
      const items = res.data.errors.map(e => {
        const where = [e.row > 0 ? t("exam_row", {row: e.row}) : "", Exam.fieldName(e.field)].filter(Boolean).join(" · ");
        return `<li class="import-error" data-row="${esc(e.row)}" data-field="${esc(e.field)}" title="${esc(e.message)}">` +
          `${esc(where)}${where ? "：" : ""}${esc(Exam.rowError(e))}</li>`;
      });
      say("import-msg", false, `${esc(t("exam_import_failed"))}<ul>${items.join("")}</ul>`, res);
    } else {
      say("import-msg", false, esc(refusal(res, {413: "exam_err_too_many", 400: "exam_err_not_utf8"})), res);
    }
  }

  async function addOne(form) {
    const f = new FormData(form);
    const body = {...(siteChoice() ? {site: siteChoice()} : {}), name: f.get("name"), id_number: f.get("id_number"), licence_class: f.get("licence_class"), booking_time: `${f.get("booking_day")}T${f.get("booking_hm")}`};  // local time, 24-hour
    const res = await api("POST", "/api/exam/candidates", body);
    const bad = !res.ok && res.data && Array.isArray(res.data.errors) ? res.data.errors.map(e => `${Exam.fieldName(e.field)}：${Exam.rowError(e)}`).join("；") : "";
    say("add-msg", res.ok, esc(res.ok ? t("exam_added", {name: body.name}) : bad || refusal(res)), res);
    if (res.ok) { form.reset(); form.elements.booking_day.value = day(); await loadCandidates(); }
  }

  async function start(candidateId, car) {
    const res = await api("POST", `/api/exam/candidates/${encodeURIComponent(candidateId)}/start`, {car});
    say("start-msg", res.ok, esc(res.ok ? t("exam_start_sent", {car, exam_id: res.data.exam_id}) : refusal(res, {409: "exam_err_car_not_free"})), res);
    await Promise.all([loadCars(), loadCandidates(), loadExams()]);
  }

  // ---------------------------------------------------------------- exams
  function renderExams() {
    const link = e => `<a href="/exam/exams/${encodeURIComponent(e.exam_id)}">${esc(e.exam_id)}</a>`;
    const running = state.exams.filter(e => e.status === "running");
    const done = state.exams.filter(e => e.status !== "running").sort((a, b) => (b.ended_at || 0) - (a.ended_at || 0));
    document.querySelector("#exams-running tbody").innerHTML = running.map(e => {
      const p = (state.cars.get(e.unit) || {}).position || {};
      const live = p.exam_id === e.exam_id;
      return `<tr data-exam="${esc(e.exam_id)}"><td>${link(e)}</td><td>${esc(e.candidate_name || e.candidate || "")}</td><td>${esc(e.unit)}</td>` +
        `<td class="item">${esc(Exam.itemName(live ? p.item : e.item))}</td><td class="score">${live ? p.score ?? "" : e.score ?? ""}</td>` +
        `<td>${esc(Exam.fmtTime(e.started_at))}</td></tr>`;
    }).join("") || none(6);
    document.querySelector("#exams-done tbody").innerHTML = done.map(e =>
      `<tr data-exam="${esc(e.exam_id)}"><td>${link(e)}</td><td>${esc(e.candidate_name || e.candidate || "")}</td><td>${esc(e.unit)}</td>` +
      `<td class="result">${finalResult(e.status, e.override)}</td><td>${e.score ?? "—"}</td><td>${esc(Exam.fmtTime(e.ended_at))}</td></tr>`).join("") || none(6);
  }

  async function loadExams() {
    const res = await api("GET", "/api/exam/exams?day=" + encodeURIComponent(day()));
    if (res.ok) { state.exams = res.data; renderExams(); renderCandidates(); }
  }

  // ---------------------------------------------------------------- the live stream
  let refreshTimer = null;
  function refreshSoon() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(async () => {
      refreshTimer = null;
      await Promise.all([loadExams(), loadCandidates(), loadCars()]);
    }, 300);
  }

  // One deduction in the feed, newest on top; each once (the stream and the opening look-up may both name it).
  const shown = new Set();
  function addDeduction(exam, d) {
    const key = `${exam.exam_id}#${d.seq}`;
    if (shown.has(key)) return;
    shown.add(key);
    const li = document.createElement("li");
    li.className = d.fail ? "fail" : "";
    li.innerHTML = `<span class="nowrap">${esc(Exam.fmtTime(d.ts))}</span> · ${esc(exam.unit || "")} · ` +
      `<a href="/exam/exams/${encodeURIComponent(exam.exam_id)}">${esc(exam.candidate_name || exam.candidate || exam.exam_id)}</a> · ` +
      `${esc(Exam.itemName(d.item))} · ${esc(d.wording || d.rule_id)} · <strong>${esc(Exam.cost(d))}</strong>`;
    $("live-deductions").prepend(li);
    markOnMap(exam, d);
  }

  // Where a car lost points, on the live map, until that car starts its next exam.
  function markOnMap(exam, d) {
    if (!state.layers || d.e === null || d.e === undefined) return;
    for (const old of state.layers.marks.querySelectorAll(`g.live-ded[data-unit="${CSS.escape(exam.unit || "")}"]`)) {
      if (old.dataset.exam !== exam.exam_id) old.remove();
    }
    const g = Exam.el(state.layers.marks, "g", {class: "ded live-ded", "data-unit": exam.unit || "", "data-exam": exam.exam_id,
      transform: `translate(${d.e.toFixed(2)},${(-d.n).toFixed(2)})`});
    Exam.el(g, "circle", {class: d.fail ? "ded-mark" : "ded-mark minor", r: "1.8"});
    Exam.el(g, "title", {}, `${exam.unit} ${Exam.fmtTime(d.ts)} ${d.wording || d.rule_id} (${Exam.cost(d)})`);
  }

  // On opening: the deductions so far of the exams under way.
  async function loadRunningDeductions() {
    for (const e of state.exams.filter(x => x.status === "running")) {
      const res = await api("GET", "/api/exam/exams/" + encodeURIComponent(e.exam_id));
      if (res.ok) for (const d of res.data.deductions || []) addDeduction(e, d);
    }
  }

  function onExam(ev) {
    if (ev.deduction) addDeduction(ev, ev.deduction);
    refreshSoon();
  }

  function connect() {
    const live = $("live-state");
    const src = new EventSource("/api/exam/live");
    let lost = false;
    src.addEventListener("open", () => {
      live.textContent = "● " + t("exam_live_on");
      live.className = "live-state small on";
      if (lost) refreshSoon();  // back after a break: what changed meanwhile
      lost = false;
    });
    src.addEventListener("error", () => { lost = true; live.textContent = t("exam_live_lost"); live.className = "live-state small lost"; });
    src.addEventListener("position", m => onPosition(JSON.parse(m.data)));
    src.addEventListener("exam", m => onExam(JSON.parse(m.data)));
  }

  // A car whose last position is over 3 s old is drawn grey (its receiver or link is gone).
  function markStale() {
    const now = Date.now();
    for (const g of state.markers.values()) g.classList.toggle("stale", now - Number(g.dataset.seen || 0) > 3000);
  }

  // ---------------------------------------------------------------- wiring
  function wire() {
    $("course-choice").addEventListener("change", ev => loadCourse(ev.target.value));
    $("check-in-form").addEventListener("submit", ev => { ev.preventDefault(); checkIn($("check-in-id").value.trim()); });
    $("import-form").addEventListener("submit", ev => { ev.preventDefault(); importCsv(); });
    $("import-file").addEventListener("change", ev => { $("import-file-name").textContent = ev.target.files[0] ? ev.target.files[0].name : t("exam_no_file"); });
    $("add-form").addEventListener("submit", ev => { ev.preventDefault(); addOne(ev.target); });
    document.querySelector("#candidates tbody").addEventListener("click", ev => {
      const b = ev.target.closest("button");
      if (!b) return;
      if (b.classList.contains("row-check-in")) checkIn(b.dataset.id);
      if (b.classList.contains("start")) start(b.dataset.candidate, b.parentElement.querySelector(".car-choice").value);
    });
  }

  async function init() {
    wire();
    await loadCars();
    await Promise.all([loadCandidates(), loadExams()]);
    connect();
    await loadRunningDeductions();
    setInterval(markStale, 1000);
    setInterval(() => { loadCars().then(renderCandidates); }, 5000);
    setInterval(() => { loadCandidates(); loadExams(); }, 30000);  // and what the stream may have missed, or a new day
    document.body.dataset.ready = "1";
  }
  init();
})();
