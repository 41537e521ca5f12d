// Keeps the status and progress columns of the toolkit versions list up to date while
// ingestion runs, by polling a small JSON view whose URL and cell texts come from the server
// (toolkit/admin.py), so nothing here copies a label. No framework, no build step.
(function () {
  "use strict";
  var config = document.getElementById("ingest-progress-config");
  if (!config) return;
  var url = config.dataset.url;

  function runningIds() {
    var ids = [];
    document.querySelectorAll(".ingest-status").forEach(function (badge) {
      if (badge.classList.contains("ingest-pending") || badge.classList.contains("ingest-processing")) {
        ids.push(badge.dataset.document);
      }
    });
    return ids;
  }

  function update(id, row) {
    var badge = document.querySelector('.ingest-status[data-document="' + id + '"]');
    var progress = document.querySelector('.ingest-progress[data-document="' + id + '"]');
    if (badge) {
      badge.className = "ingest-status ingest-" + row.status;
      badge.textContent = row.status_label;
      badge.title = row.error;
    }
    if (progress) progress.textContent = row.progress_done + "/" + row.progress_total;
    var error = document.querySelector('.ingest-error[data-document="' + id + '"]');
    if (error) error.textContent = row.short_error;
  }

  function poll() {
    var ids = runningIds();
    if (!ids.length) return;
    fetch(url + "?ids=" + ids.join(","), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : {}; })
      .then(function (rows) { Object.keys(rows).forEach(function (id) { update(id, rows[id]); }); })
      .catch(function () { /* try again at the next tick */ })
      .finally(function () { window.setTimeout(poll, 2000); });
  }

  document.addEventListener("DOMContentLoaded", function () { window.setTimeout(poll, 1000); });
})();
