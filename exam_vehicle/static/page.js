// The examiner's page follows the car: when the unit's state version changes, the live part is fetched again.
(function () {
  let version = document.body.dataset.version;
  async function poll() {
    try {
      const status = await (await fetch("/api/status", {cache: "no-store"})).json();
      if (String(status.version) !== version) {
        version = String(status.version);
        const html = await (await fetch("/", {cache: "no-store"})).text();
        const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) document.getElementById("live").replaceWith(fresh);
      }
    } catch (e) { /* the car's unit restarting: try again */ }
    setTimeout(poll, 500);
  }
  setTimeout(poll, 500);
})();
