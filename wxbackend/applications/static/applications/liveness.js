// The PC page follows the phone's liveness check: poll the status (pulled server-side from the provider) and
// show it; once passed, reload so the page offers 下一步.
(function () {
  var box = document.getElementById("liveness-state");
  var shown = document.getElementById("liveness-status");
  if (!box || !shown || shown.getAttribute("data-status") === "passed") return;
  var url = box.getAttribute("data-status-url");
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) return;
        shown.textContent = s.passed ? "已通过" : s.label;
        shown.setAttribute("data-status", s.passed ? "passed" : s.status);
        if (s.passed) { window.location.reload(); }
      })
      .catch(function () {});
  }
  setInterval(poll, 3000);
})();
