// PassLane tablet: every action is a fetch to the JSON API; SSE says when to re-render the live fragment.
(function () {
  "use strict";
  function flash(text) {
    var el = document.getElementById("flash");
    if (!el) return;
    el.textContent = text; el.hidden = false;
    clearTimeout(flash.t); flash.t = setTimeout(function () { el.hidden = true; }, 6000);
  }
  // Times of day as a 24-hour clock in both languages (toLocaleTimeString gives "5:20:57 PM" in English).
  function clock(d) {
    function two(n) { return String(n).padStart(2, "0"); }
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }
  function fmtTimes(root) {
    (root || document).querySelectorAll(".ts[data-ts]").forEach(function (el) {
      el.textContent = clock(new Date(parseFloat(el.dataset.ts) * 1000));
    });
  }
  var busy = 0;
  async function call(url, method, body, isForm) {
    busy++; document.body.classList.add("busy");
    try {
      var opts = { method: method || "POST", credentials: "same-origin", headers: {} };
      if (isForm) { opts.body = body; }
      else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
      var r = await fetch(url, opts);
      var data = {};
      try { data = await r.json(); } catch (e) { data = {}; }
      if (r.status === 401 && !url.endsWith("/api/session")) { location.href = "/login"; return null; }
      if (!r.ok || data.ok === false) { flash(data.error || data.detail || ("HTTP " + r.status)); return null; }
      return data;
    } catch (e) { flash(String(e)); return null; }
    finally { busy--; if (!busy) document.body.classList.remove("busy"); refresh(); }
  }
  function then(el, data) {
    if (!data) return;
    if (el.dataset.then !== undefined && el.dataset.then !== "") { location.href = el.dataset.then; return; }
    if (el.dataset.thenCase !== undefined && data.case) { location.href = "/cases/" + data.case.case_id; }
  }
  // The full-size viewer of a VIN crop or a photo: tap a [data-view] element; zoom with the buttons or two fingers.
  var viewer = { zoom: 1 };
  function viewerEls() {
    return { dlg: document.getElementById("viewer"), img: document.getElementById("viewer-img"), area: document.getElementById("viewer-area") };
  }
  function setZoom(z) {
    var v = viewerEls();
    if (!v.img || !v.img.naturalWidth) return;
    viewer.zoom = Math.max(0.1, Math.min(8, z));
    v.img.style.width = Math.round(v.img.naturalWidth * viewer.zoom) + "px";
    v.img.dataset.zoom = viewer.zoom.toFixed(3);
  }
  function fitZoom() {
    var v = viewerEls();
    if (!v.img.naturalWidth) return 1;
    return Math.min(v.area.clientWidth / v.img.naturalWidth, v.area.clientHeight / v.img.naturalHeight, 4);
  }
  function openViewer(src) {
    var v = viewerEls();
    if (!v.dlg) return;
    v.img.onload = function () { setZoom(fitZoom()); };
    v.img.src = src;
    if (!v.dlg.open) v.dlg.showModal();
  }
  document.addEventListener("click", function (ev) {
    var opener = ev.target.closest("[data-view]");
    if (opener) { ev.preventDefault(); openViewer(opener.dataset.view); return; }
    var z = ev.target.closest("#viewer [data-zoom]");
    if (z) {
      var step = parseInt(z.dataset.zoom, 10);
      setZoom(step === 0 ? fitZoom() : viewer.zoom * (step > 0 ? 1.5 : 1 / 1.5));
      return;
    }
    var v = viewerEls();
    if (ev.target.closest("[data-viewer-close]") || (v.dlg && ev.target === v.dlg)) v.dlg.close();
  });
  var pinch = null;
  function spread(t) { return Math.hypot(t[0].clientX - t[1].clientX, t[0].clientY - t[1].clientY); }
  document.addEventListener("touchstart", function (ev) {
    if (ev.touches.length === 2 && ev.target.closest("#viewer-area")) pinch = { d: spread(ev.touches), z: viewer.zoom };
  }, { passive: true });
  document.addEventListener("touchmove", function (ev) {
    if (!pinch || ev.touches.length !== 2) return;
    ev.preventDefault();
    setZoom(pinch.z * spread(ev.touches) / pinch.d);
  }, { passive: false });
  document.addEventListener("touchend", function () { pinch = null; });
  // The next step's link goes to its section, below the sticky header and head.
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest('.next a[href^="#"]');
    if (!a) return;
    var target = document.getElementById(a.getAttribute("href").slice(1));
    if (!target) return;
    ev.preventDefault();
    var d = target.closest("details");
    if (d) d.open = true;
    var cover = 0;
    ["top", "head"].forEach(function (id) { var el = document.getElementById(id); if (el) cover += el.offsetHeight; });
    window.scrollTo({ top: target.getBoundingClientRect().top + window.scrollY - cover - 8 });
  });
  // One control ends or pauses a case: choose the action and its reason, then confirm what it will do.
  function endChoice(form) {
    var act = form.querySelector("input[name=action]:checked");
    act = act ? act.value : "";
    var preset = form.querySelector("select[name=preset-" + act + "]");
    var p = preset ? preset.value : "", more = form.querySelector("input[name=more]").value.trim();
    var reason = p && p !== "other" ? p + (more ? ": " + more : "") : more;
    var label = preset && preset.selectedIndex > 0 ? preset.options[preset.selectedIndex].text : "";
    return { action: act, reason: reason, label: (label && p !== "other" ? label : "") + (more ? (label && p !== "other" ? ": " : "") + more : "") };
  }
  function showEndChoice(form, confirming) {
    var act = endChoice(form).action;
    form.querySelectorAll("[data-for]").forEach(function (el) { el.hidden = el.dataset.for !== act; });
    form.querySelectorAll("[data-end-do]").forEach(function (el) { el.hidden = el.dataset.endDo !== act; });
    form.querySelector("[data-confirm]").hidden = !confirming;
    form.querySelector("button[type=submit]").hidden = confirming;
    form.querySelectorAll("input, select").forEach(function (el) { el.disabled = confirming; });
  }
  function initEndForms(root) {
    (root || document).querySelectorAll("form[data-end-case]").forEach(function (f) { showEndChoice(f, false); });
  }
  document.addEventListener("change", function (ev) {
    var form = ev.target.closest("form[data-end-case]");
    if (form) { form.querySelector("[data-need-reason]").hidden = true; showEndChoice(form, false); }
    var auto = ev.target.closest("form[data-auto]");
    if (auto && ev.target.type === "file" && ev.target.files && ev.target.files.length) auto.requestSubmit();
  });
  document.addEventListener("submit", function (ev) {
    var form = ev.target.closest("form[data-end-case]");
    if (!form) return;
    ev.preventDefault();
    var choice = endChoice(form);
    if (!choice.action || !choice.reason) { form.querySelector("[data-need-reason]").hidden = false; return; }
    form.querySelector("[data-chosen-reason]").textContent = choice.label;
    showEndChoice(form, true);
  });
  document.addEventListener("click", async function (ev) {
    var form = ev.target.closest("form[data-end-case]");
    if (!form) return;
    if (ev.target.closest("[data-end-back]")) { showEndChoice(form, false); return; }
    var doBtn = ev.target.closest("[data-end-do]");
    if (!doBtn) return;
    showEndChoice(form, false);
    var choice = endChoice(form);
    doBtn.disabled = true;
    await call(form.dataset.base + "/" + choice.action, "POST", { reason: choice.reason });
    doBtn.disabled = false;
  });
  document.addEventListener("click", async function (ev) {
    var el = ev.target.closest("button[data-api]");
    if (!el || (el.closest("form") && el.type === "submit")) return;
    ev.preventDefault();
    if (el.disabled) return;
    el.disabled = true;
    var body = el.dataset.body ? JSON.parse(el.dataset.body) : undefined;
    var data = await call(el.dataset.api, el.dataset.method || "POST", body);
    el.disabled = false;
    then(el, data);
  });
  document.addEventListener("submit", async function (ev) {
    var form = ev.target.closest("form[data-api]");
    if (!form) return;
    ev.preventDefault();
    var data;
    if (form.dataset.multipart !== undefined) {
      var fd = new FormData(form);
      var f = fd.get("file");
      if (!f || !f.size) { flash("?"); return; }
      data = await call(form.dataset.api, "POST", fd, true);
    } else {
      var obj = {};
      new FormData(form).forEach(function (v, k) { if (v !== "") obj[k] = v; });
      if (obj.composed !== undefined) obj.composed = obj.composed === "true";
      data = await call(form.dataset.api, form.dataset.method || "POST", obj);
    }
    if (data) { form.reset(); typedAt = 0; }
    then(form, data);
  });
  var live = null, pending = false, typedAt = 0;
  // The inspector is typing (or has chosen a photo) in the live area: do not swap the form away.
  ["input", "change"].forEach(function (kind) {
    document.addEventListener(kind, function (ev) { if (live && live.contains(ev.target)) typedAt = Date.now(); });
  });
  function busyTyping() {
    if (!live) return false;
    if (live.querySelector("[data-confirm]:not([hidden])")) return true; // never swap away a confirmation asked for
    var dirty = Array.prototype.some.call(live.querySelectorAll("input:not([type=hidden]), select"), function (f) {
      if (f.tagName === "SELECT") return f.selectedIndex > 0;
      if (f.type === "radio" || f.type === "checkbox") return f.checked !== f.defaultChecked;
      return f.type === "file" ? (f.files && f.files.length) : (f.value !== f.defaultValue);
    });
    return dirty && Date.now() - typedAt < 20000;
  }
  // What the inspector opened or folded stays so across refreshes, until the case moves to another step.
  var folded = {}, foldedAt = null;
  function stepOf() { var h = live && live.querySelector("#head"); return h ? h.dataset.step + "/" + h.dataset.stage : null; }
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (!live || !d.id || !live.contains(d) || d.dataset.rendered) return;
    if (foldedAt !== stepOf()) { folded = {}; foldedAt = stepOf(); }
    folded[d.id] = d.open;
  }, true);
  function keepFolds(root) {
    root.querySelectorAll("details[id]").forEach(function (d) { d.dataset.rendered = "1"; });
    if (foldedAt === stepOf()) {
      Object.keys(folded).forEach(function (id) { var d = root.querySelector("#" + id); if (d) d.open = folded[id]; });
    } else { folded = {}; }
    // toggle events of the swap itself fire later: only then do the inspector's own toggles count again
    setTimeout(function () { root.querySelectorAll("details[id]").forEach(function (d) { delete d.dataset.rendered; }); }, 0);
  }
  // A photo chosen on an input that a refresh has just replaced must not be lost: move the chosen input
  // into the form that now stands in its place (matched by the form's API path).
  function adoptFileInputs(root) {
    (root || document).querySelectorAll("form[data-api] input[type=file]").forEach(function (input) {
      if (input.dataset.adopt) return;
      input.dataset.adopt = "1";
      input.addEventListener("change", function () {
        typedAt = Date.now();
        if (live && !live.contains(input)) {
          var api = input.dataset.form;
          var target = live.querySelector('form[data-api="' + api + '"] input[type=file]');
          if (target) {
            target.replaceWith(input);
            // its change event began off the page, so the page-wide handler never saw it: send it from here
            if (input.form && input.form.dataset.auto !== undefined && input.files && input.files.length) input.form.requestSubmit();
          }
        }
      });
      input.dataset.form = input.form ? input.form.dataset.api : "";
    });
  }
  // The VIN marks sit over the symbols they name: positioned here from their data (the page's
  // Content-Security-Policy allows no inline style attributes).
  function placeMarks(root) {
    (root || document).querySelectorAll(".vin-mark[data-x0]").forEach(function (m) {
      var w = parseFloat(m.dataset.width), x0 = parseFloat(m.dataset.x0), x1 = parseFloat(m.dataset.x1);
      if (!(w > 0)) return;
      m.style.left = (100 * x0 / w) + "%";
      m.style.width = (100 * (x1 - x0) / w) + "%";
    });
  }
  async function refresh() {
    if (!live) return;
    if (busyTyping()) { pending = true; setTimeout(refresh, 1000); return; }
    pending = false;
    try {
      var r = await fetch(live.dataset.fragment, { credentials: "same-origin" });
      if (r.status === 401) { location.href = "/login"; return; }
      var html = r.ok ? await r.text() : null;
      // checked again right before the swap, with no await in between
      if (busyTyping()) { pending = true; setTimeout(refresh, 1000); return; }
      if (html !== null) {
        live.innerHTML = html; fmtTimes(live); adoptFileInputs(live); placeMarks(live); initEndForms(live); keepFolds(live);
        live.dataset.version = String(Date.now());
      }
    } catch (e) { /* the next change event retries */ }
  }
  document.addEventListener("focusout", function () { if (pending) setTimeout(refresh, 50); });
  document.addEventListener("DOMContentLoaded", function () {
    fmtTimes(document);
    placeMarks(document);
    initEndForms(document);
    live = document.getElementById("live");
    adoptFileInputs(document);
    if (live && window.EventSource) {
      var es = new EventSource("/api/stream?since=" + encodeURIComponent(live.dataset.since || "-1"));
      es.addEventListener("change", function () { refresh(); });
    }
    if (live) setInterval(refresh, 5000); // ages tick even when nothing else changes
  });
})();
