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
  document.addEventListener("click", function (ev) {
    var z = ev.target.closest("[data-zoom]");
    if (z) z.classList.toggle("zoomed");
  });
  document.addEventListener("click", async function (ev) {
    var el = ev.target.closest("button[data-api]");
    if (!el || el.closest("form")) return;
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
    var dirty = Array.prototype.some.call(live.querySelectorAll("input:not([type=hidden])"), function (f) {
      return f.type === "file" ? (f.files && f.files.length) : (f.value !== f.defaultValue);
    });
    return dirty && Date.now() - typedAt < 20000;
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
          if (target) target.replaceWith(input);
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
      if (html !== null) { live.innerHTML = html; fmtTimes(live); adoptFileInputs(live); placeMarks(live); live.dataset.version = String(Date.now()); }
    } catch (e) { /* the next change event retries */ }
  }
  document.addEventListener("focusout", function () { if (pending) setTimeout(refresh, 50); });
  document.addEventListener("DOMContentLoaded", function () {
    fmtTimes(document);
    placeMarks(document);
    live = document.getElementById("live");
    adoptFileInputs(document);
    if (live && window.EventSource) {
      var es = new EventSource("/api/stream?since=" + encodeURIComponent(live.dataset.since || "-1"));
      es.addEventListener("change", function () { refresh(); });
    }
    if (live) setInterval(refresh, 5000); // ages tick even when nothing else changes
  });
})();
