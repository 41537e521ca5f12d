// While a golden run goes on, its page shows the progress the server reports (rag/admin.py's
// progress view) and reloads itself once the run has finished, to show the comparison.
(function () {
  "use strict";
  function poll(run) {
    fetch(run.dataset.progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state) return;
        run.querySelector(".golden-status").textContent = state.status_label;
        run.querySelector(".golden-status").className = "golden-status golden-" + state.status;
        run.querySelector(".golden-progress").textContent = state.progress_done + "/" + state.progress_total;
        if (state.finished) window.location.reload();
      })
      .catch(function () { /* try again at the next tick */ })
      .finally(function () { window.setTimeout(function () { poll(run); }, 1500); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var run = document.querySelector(".golden-run[data-progress-url]");
    if (run) window.setTimeout(function () { poll(run); }, 1000);
  });
})();
