// Two to four scenarios side by side on /plan?compare=…: one small map per scenario, all
// showing the same extent (the bounds of every scenario's units and sites together), so
// that where each one builds can be compared at a glance.  The words come from the page
// (#compare-labels); names from the database reach the page only as text nodes.
(function () {
  "use strict";
  const boxes = Array.from(document.querySelectorAll("[data-compare-map]"));
  if (!boxes.length) return;
  const labels = JSON.parse(document.getElementById("compare-labels").textContent);
  const lang = document.documentElement.lang || "zh-CN";
  const fmt = (v) => (v === null || v === undefined) ? "—"
    : Number(v).toLocaleString(lang, { maximumFractionDigits: 0 });
  const maps = boxes.map((box) => {
    const made = Shequ.map(box, { zoomSnap: 0.25 });
    made.setView([35, 110], 4);
    return made;
  });
  const loads = boxes.map((box) => fetch(
    `/api/v1/plan/scenarios/${encodeURIComponent(box.dataset.compareMap)}/map`,
    { credentials: "same-origin" }).then((r) => { if (!r.ok) throw new Error(String(r.status)); return r.json(); }));
  Promise.all(loads).then((all) => {
    let bounds = null;
    all.forEach((data, k) => {
      const map = maps[k];
      const units = L.geoJSON(data.units, { pointToLayer: (f, latlng) => {
        const p = f.properties;
        const colour = p.covered_before ? "#2f855a" : p.covered_after ? "#1d6fb8" : "#c53030";
        return L.circleMarker(latlng, { radius: 3, color: colour, weight: 1, fillOpacity: 0.7 })
          .bindTooltip(() => Shequ.lines([`${p.name} ${p.code}`]));
      } }).addTo(map);
      const sites = L.geoJSON(data.sites, { pointToLayer: (f, latlng) => {
        const p = f.properties;
        const action = labels.actions[p.action] || p.action;
        const told = [`${action}${lang === "en" ? ": " : "："}${p.name}`];
        if (p.covers_units !== undefined && (p.action === "new" || p.action === "reuse")) {
          told.push(Shequ.fill(labels.covers, { units: fmt(p.covers_units),
                                                residents: fmt(p.covers_residents) }));
        }
        return L.circleMarker(latlng, { radius: 5, color: "#fff", weight: 1.5,
                                        fillColor: "#7570b3", fillOpacity: 1,
                                        className: "compare-site" })
          .bindTooltip(() => Shequ.lines(told));
      } }).addTo(map);
      for (const layer of [units, sites]) {
        const b = layer.getBounds();
        if (b.isValid()) bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
      }
      boxes[k].dataset.sites = String(data.sites.features.length);
    });
    maps.forEach((map, k) => {
      if (bounds) map.fitBounds(bounds, { padding: [6, 6], animate: false });
      const b = map.getBounds();
      boxes[k].dataset.extent = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
        .map((v) => v.toFixed(5)).join(",");
      boxes[k].dataset.drawn = "true";
    });
  }, () => {
    const status = document.getElementById("compared-maps-status");
    if (status) status.textContent = labels.failed;
  });
})();
