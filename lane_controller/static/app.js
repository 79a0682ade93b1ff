// PassLane tablet: every action is a fetch to the JSON API; SSE says when to re-render the live fragment.
(function () {
  "use strict";
  function flash(text) {
    var el = document.getElementById("flash");
    if (!el) return;
    el.textContent = text; el.hidden = false;
    clearTimeout(flash.t); flash.t = setTimeout(function () { el.hidden = true; }, 6000);
  }
  function fmtTimes(root) {
    (root || document).querySelectorAll(".ts[data-ts]").forEach(function (el) {
      var d = new Date(parseFloat(el.dataset.ts) * 1000); el.textContent = d.toLocaleTimeString();
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
    if (data) form.reset();
    then(form, data);
  });
  var live = null, pending = false;
  async function refresh() {
    if (!live) return;
    var a = document.activeElement;
    if (a && live.contains(a) && (a.tagName === "INPUT" || a.tagName === "TEXTAREA") && a.value) { pending = true; return; }
    pending = false;
    try {
      var r = await fetch(live.dataset.fragment, { credentials: "same-origin" });
      if (r.status === 401) { location.href = "/login"; return; }
      if (r.ok) { live.innerHTML = await r.text(); fmtTimes(live); live.dataset.version = String(Date.now()); }
    } catch (e) { /* the next change event retries */ }
  }
  document.addEventListener("focusout", function () { if (pending) setTimeout(refresh, 50); });
  document.addEventListener("DOMContentLoaded", function () {
    fmtTimes(document);
    live = document.getElementById("live");
    if (live && window.EventSource) {
      var es = new EventSource("/api/stream");
      es.addEventListener("change", function () { refresh(); });
    }
    if (live) setInterval(refresh, 5000); // ages tick even when nothing else changes
  });
})();
