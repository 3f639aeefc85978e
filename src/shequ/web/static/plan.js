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

// The plan form's candidate sites on a map: a click on a new-build or reuse site drops it
// from the candidates (or takes it back), a click elsewhere adds a new-build point there
// (a click on an added point removes it).  What is chosen goes into the form's hidden
// drop_sites and extra_sites fields; the words come from #plan-form-labels.
(function () {
  "use strict";
  const box = document.getElementById("candidates-map");
  const form = document.getElementById("plan-form");
  if (!box || !form) return;
  const labels = JSON.parse(document.getElementById("plan-form-labels").textContent);
  const drop = document.getElementById("drop_sites");
  const extra = document.getElementById("extra_sites");
  const status = document.getElementById("candidates-status");
  const button = document.getElementById("candidates-load");
  const dropped = new Set(drop.value.split(";").filter(Boolean));
  const points = extra.value.split(";").filter(Boolean).map((p) => p.split(",").map(Number));
  const colour = { existing: "#2f855a", new: "#b42318", reuse: "#1d6fb8" };
  let map = null, sites = null, added = null;

  function sync() {
    drop.value = Array.from(dropped).join(";");
    extra.value = points.map((p) => p.join(",")).join(";");
    status.textContent = labels.counts.replace("{dropped}", String(dropped.size))
      .replace("{added}", String(points.length));
  }
  function style(p) {
    const off = dropped.has(p.key);
    return { radius: p.kind === "existing" ? 4 : 6, color: colour[p.kind] || "#555",
             weight: off ? 1 : 2, fillOpacity: off ? 0 : 0.7, dashArray: off ? "2 3" : null };
  }
  function drawAdded() {
    if (added) added.remove();
    added = L.layerGroup(points.map((p, i) => {
      const marker = L.circleMarker([p[1], p[0]], { radius: 7, color: "#6b46c1", weight: 3,
                                                    fillOpacity: 0.4 });
      marker.bindTooltip(() => Shequ.lines([labels.added]));
      marker.on("click", (event) => {
        L.DomEvent.stopPropagation(event);
        points.splice(i, 1); drawAdded(); sync();
      });
      return marker;
    })).addTo(map);
  }
  function load() {
    const query = new URLSearchParams({
      division_code: form.elements.division_code.value, type_code: form.elements.type_code.value,
      area: form.elements.area.value, candidates: form.elements.candidates.value });
    status.textContent = labels.loading;
    const work = fetch(`/api/v1/plan/candidates?${query}`, { credentials: "same-origin" })
      .then((r) => { if (!r.ok) throw new Error(String(r.status)); return r.json(); });
    Shequ.busy(box, work).then((data) => {
      box.hidden = false;
      if (!map) {
        map = Shequ.map(box, { zoomSnap: 0.25 });
        map.setView([35, 110], 4);
        map.on("click", (event) => {
          points.push([Number(event.latlng.lng.toFixed(6)), Number(event.latlng.lat.toFixed(6))]);
          drawAdded(); sync();
        });
      }
      if (sites) sites.remove();
      sites = L.geoJSON(data, { pointToLayer: (feature, latlng) => {
        const p = feature.properties;
        const marker = L.circleMarker(latlng, style(p));
        marker.bindTooltip(() => Shequ.lines([p.name, labels.kinds[p.kind] || p.kind]));
        marker.on("click", (event) => {
          L.DomEvent.stopPropagation(event);
          if (p.kind === "existing") return;
          if (dropped.has(p.key)) dropped.delete(p.key); else dropped.add(p.key);
          marker.setStyle(style(p)); sync();
        });
        return marker;
      } }).addTo(map);
      if (data.features.length) map.fitBounds(sites.getBounds(), { padding: [10, 10] });
      drawAdded(); sync();
    }, () => { status.textContent = labels.failed; });
  }
  button.addEventListener("click", load);
})();
