// An exam's result page (/exam/exams/{id}): the result, its items and deductions, the stored track drawn on the course
// with each deduction where it happened, a replay slider, the examiner's sign-off and override. Print: one A4 sheet.
"use strict";

(() => {
  const {t, esc, api, refusal} = Exam;
  const EXAM = Exam.root.dataset.exam;
  const $ = id => document.getElementById(id);
  const state = {exam: null, epochs: [], layers: null, car: null, marks: []};

  function say(id, ok, text, res) {
    $(id).className = "msg " + (ok ? "ok" : "error");
    $(id).textContent = text;
    $(id).title = res && !ok ? Exam.serverWords(res) : "";
  }
  const finished = e => e.status !== "running";
  const resultWord = passed => t(passed ? "exam_st_passed" : "exam_st_failed");

  function renderFacts(e) {
    const o = e.override;
    const final = o ? `<span class="st st-${o.passed ? "passed" : "failed"}">${esc(resultWord(o.passed))}</span>` : Exam.examStatus(e.status);
    $("exam-status").innerHTML = final;
    $("exam-score").textContent = e.score ?? "";
    $("f-candidate").textContent = e.candidate || "—";
    $("f-car").textContent = [e.unit, e.car].filter(Boolean).join(" · ") || "—";
    $("f-course").textContent = e.course || "—";
    $("f-rules").textContent = e.rules_version || "—";
    $("f-started").textContent = Exam.fmtDateTime(e.started_at);
    $("f-ended").textContent = Exam.fmtDateTime(e.ended_at);
    $("f-ended-by").textContent = e.ended_by ? t("exam_ended_" + e.ended_by) : "—";
    $("f-quality").innerHTML = Exam.fixBadge(e.worst_quality);
    $("f-reason").textContent = e.reason || "—";
    $("f-electronic").innerHTML = Exam.examStatus(e.status) + (e.score === null || e.score === undefined ? "" : ` · ${esc(e.score)}`);
    $("f-final").innerHTML = final;
  }

  function renderTables(e) {
    document.querySelector("#items tbody").innerHTML = (e.items || []).map(i =>
      `<tr><td>${esc(Exam.itemName(i.item))}</td><td>${esc(Exam.fmtTime(i.started_at))}</td><td>${esc(Exam.fmtTime(i.ended_at))}</td>` +
      `<td>${esc(t(i.completed ? "exam_yes" : "exam_no"))}</td><td>${i.points_lost ?? 0}</td></tr>`).join("");
    document.querySelector("#deductions tbody").innerHTML = (e.deductions || []).map((d, k) => {
      const at = d.e === null || d.e === undefined ? "—" : `${d.e.toFixed(1)}, ${d.n.toFixed(1)}`;
      return `<tr data-k="${k}"><td>${k + 1}</td><td class="nowrap">${esc(Exam.fmtTime(d.ts))}</td><td>${esc(Exam.itemName(d.item))}</td>` +
        `<td>${esc(d.wording || "")} <span class="muted small mono">${esc(d.rule_id)}</span></td>` +
        `<td class="${d.fail ? "fail" : ""}">${esc(Exam.cost(d))}</td><td class="num">${esc(at)}</td></tr>`;
    }).join("") || `<tr><td colspan="6" class="muted">${esc(t("exam_none"))}</td></tr>`;
  }

  function renderSignOff(e) {
    $("sign-state").textContent = e.signed_by
      ? t("exam_signed", {by: e.signed_by, at: Exam.fmtDateTime(e.signed_at)}) + (e.sign_note ? ` — ${e.sign_note}` : "")
      : (finished(e) ? t("exam_not_signed") : t("exam_not_finished"));
    const o = e.override;
    $("override-state").textContent = o
      ? t("exam_overridden", {by: o.by || "", at: Exam.fmtDateTime(o.at), result: resultWord(o.passed), reason: o.reason}) : "";
    if ($("sign-form")) {  // only for those who may act on exams
      $("sign-form").hidden = !finished(e) || !!e.signed_by;
      $("override-box").hidden = !finished(e) || !!o;
    }
  }

  // ---------------------------------------------------------------- the track, the marks and the replay
  function drawTrack(epochs) {
    const layer = state.layers.track;
    layer.replaceChildren();
    let run = [], q = null;
    const flush = () => { if (run.length > 1) Exam.el(layer, "polyline", {class: q === "rtk_fixed" ? "track" : "track degraded", points: Exam.pts(run)}); };
    for (const [, e, n, quality] of epochs) {
      if (quality !== q) { flush(); run = run.length ? [run[run.length - 1]] : []; q = quality; }
      run.push([e, n]);
    }
    flush();
  }

  function drawMarks(deductions) {
    const layer = state.layers.marks;
    layer.replaceChildren();
    state.marks = deductions.map((d, k) => {
      if (d.e === null || d.e === undefined) return null;
      const g = Exam.el(layer, "g", {class: "ded", "data-k": String(k), transform: `translate(${d.e.toFixed(2)},${(-d.n).toFixed(2)})`});
      Exam.el(g, "circle", {class: d.fail ? "ded-mark" : "ded-mark minor", r: "2.4"});
      Exam.el(g, "text", {class: "ded-num"}, String(k + 1));
      Exam.el(g, "title", {}, `${k + 1}. ${Exam.fmtTime(d.ts)} ${d.wording || d.rule_id} (${Exam.cost(d)})`);
      return g;
    });
  }

  // The car where the track was at epoch k; the deductions it has passed; the score then.
  function replayTo(k) {
    const ep = state.epochs[k];
    if (!ep) return;
    const [ts, e, n, quality] = ep;
    const prev = state.epochs[Math.max(0, k - 1)];
    const heading = Math.hypot(e - prev[1], n - prev[2]) > 0.01 ? (Math.atan2(e - prev[1], n - prev[2]) * 180 / Math.PI) : null;
    Exam.placeCar(state.car, e, n, heading ?? Number(state.car.dataset.heading || 90), quality);
    if (heading !== null) state.car.dataset.heading = String(heading);
    const ded = state.exam.deductions || [];
    let lost = 0;
    ded.forEach((d, i) => {
      const passed = d.ts <= ts;
      if (passed && !d.fail) lost += d.points || 0;
      const row = document.querySelector(`#deductions tr[data-k="${i}"]`);
      if (row) row.classList.toggle("passed-by", passed);
      if (state.marks[i]) state.marks[i].firstChild.classList.toggle("current", passed && ts - d.ts < 2);
    });
    const start = state.exam.score === null || state.exam.score === undefined ? null
      : state.exam.score + ded.filter(d => !d.fail).reduce((a, d) => a + (d.points || 0), 0);
    const score = start === null ? "" : ` · ${t("exam_score")} ${start - lost}`;
    $("replay-readout").textContent = `${Exam.fmtTime(ts)} (+${Exam.fmtDur(ts - state.epochs[0][0])}) · ${Exam.fixName(quality)}${score}`;
  }

  function nearestEpoch(ts) {
    let best = 0;
    state.epochs.forEach((ep, k) => { if (Math.abs(ep[0] - ts) < Math.abs(state.epochs[best][0] - ts)) best = k; });
    return best;
  }

  async function loadTrack(e) {
    const course = e.course ? await api("GET", "/api/exam/courses/" + encodeURIComponent(e.course)) : {ok: false};
    state.layers = Exam.drawCourse($("track-map"), course.ok ? course.data : null);
    drawMarks(e.deductions || []);
    const res = await api("GET", `/api/exam/exams/${encodeURIComponent(EXAM)}/track`);
    if (!res.ok || !res.data.epochs || !res.data.epochs.length) { say("track-msg", false, t("exam_track_pending")); return; }
    $("track-msg").textContent = "";
    state.epochs = res.data.epochs;
    drawTrack(state.epochs);
    state.car = Exam.carMarker(state.layers.cars, e.unit || "");
    const slider = $("replay-slider");
    slider.max = String(state.epochs.length - 1);
    slider.disabled = false;
    $("reproduce").disabled = false;
    slider.value = String(state.epochs.length - 1);
    replayTo(state.epochs.length - 1);
  }

  async function loadExam() {
    const res = await api("GET", `/api/exam/exams/${encodeURIComponent(EXAM)}`);
    if (!res.ok) { say("track-msg", false, refusal(res), res); return null; }
    state.exam = res.data;
    renderFacts(res.data);
    renderTables(res.data);
    renderSignOff(res.data);
    return res.data;
  }

  // Judge the stored track again with the stored rules version: the result must come out the same.
  async function reproduce() {
    const res = await api("GET", `/api/exam/exams/${encodeURIComponent(EXAM)}/reproduce`);
    const ok = res.ok && res.data.equal;
    const words = res.ok ? t(ok ? "exam_reproduce_equal" : "exam_reproduce_differs", {v: res.data.rules_version}) : refusal(res);
    say("reproduce-msg", ok, words, res);
    $("reproduce-msg").dataset.equal = String(ok);
  }

  async function signOff() {
    const note = $("sign-note").value.trim();
    const res = await api("POST", `/api/exam/exams/${encodeURIComponent(EXAM)}/sign-off`, note ? {note} : {});
    say("sign-msg", res.ok, res.ok ? "" : refusal(res, {409: "exam_err_sign_conflict"}), res);
    if (res.ok) await loadExam();
  }

  async function override() {
    const body = {passed: $("override-passed").value === "true", reason: $("override-reason").value.trim()};
    const res = await api("POST", `/api/exam/exams/${encodeURIComponent(EXAM)}/override`, body);
    say("override-msg", res.ok, res.ok ? "" : refusal(res, {409: "exam_err_not_finished", 422: "exam_err_reason"}), res);
    if (res.ok) await loadExam();
  }

  function wire() {
    $("replay-slider").addEventListener("input", ev => replayTo(Number(ev.target.value)));
    $("deductions").addEventListener("click", ev => {
      const row = ev.target.closest("tr[data-k]");
      if (!row || !state.epochs.length) return;
      const k = nearestEpoch(state.exam.deductions[Number(row.dataset.k)].ts);
      $("replay-slider").value = String(k);
      replayTo(k);
    });
    if ($("sign-form")) {
      $("sign-form").addEventListener("submit", ev => { ev.preventDefault(); signOff(); });
      $("override-form").addEventListener("submit", ev => { ev.preventDefault(); override(); });
    }
    $("print").addEventListener("click", () => window.print());
    $("reproduce").addEventListener("click", reproduce);
    window.addEventListener("beforeprint", () => { $("printed-at").textContent = Exam.fmtDateTime(Date.now() / 1000); });
  }

  async function init() {
    wire();
    $("printed-at").textContent = Exam.fmtDateTime(Date.now() / 1000);
    const e = await loadExam();
    if (e) await loadTrack(e);
    document.body.dataset.ready = "1";
  }
  init();
})();
