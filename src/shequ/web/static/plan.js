// The job under way on /plan and /jobs: its bar follows /api/v1/jobs/{id} (polled every
// half second) and the page is drawn again by the server, in the reader's words, once the
// job has ended — the solved scenario, the evaluation or the problem.
(function () {
  "use strict";
  const section = document.querySelector("[data-job]");
  if (!section || section.dataset.ended === "true") return;
  const id = encodeURIComponent(section.dataset.job);
  const bar = section.querySelector("progress");
  let failures = 0;
  function poll() {
    fetch(`/api/v1/jobs/${id}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
      .then((job) => {
        failures = 0;
        if (bar) bar.value = job.progress || 0;
        if (job.status !== "queued" && job.status !== "running") {
          section.dataset.ended = "true";
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 500);
      }, () => { failures += 1; if (failures < 20) window.setTimeout(poll, 1000); });
  }
  window.setTimeout(poll, 300);
})();
