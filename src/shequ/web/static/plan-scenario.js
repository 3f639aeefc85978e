// One siting scenario on /plan: its map (communities covered before, newly covered, not
// covered; the sites) and the counts under it.  Everything else on the page is drawn by
// the server in the reader's language; the words here come from the page (#plan-labels).
// Scenario, site and division names come from the database: they reach the page only as
// text nodes (Shequ.text, tooltips built by Shequ.lines).
(function () {
  "use strict";
  const section = document.getElementById("scenario");
  const id = encodeURIComponent(section.dataset.id);
  const lang = document.documentElement.lang || "zh-CN";
  const labels = JSON.parse(document.getElementById("plan-labels").textContent);
  const status = document.getElementById("map-status");
  const fmt = (v, d) => (v === null || v === undefined) ? "—"
    : Number(v).toLocaleString(lang, { maximumFractionDigits: d });
  const mapElement = document.getElementById("map");
  const map = Shequ.map(mapElement, { zoomSnap: 0.25 });
  map.setView([35, 110], 4);
  status.textContent = labels.loading;
  const work = fetch(`/api/v1/plan/scenarios/${id}/map`, { credentials: "same-origin" })
    .then((r) => { if (!r.ok) throw new Error(String(r.status)); return r.json(); });
  Shequ.busy(mapElement, work).then((data) => {
    status.textContent = "";
    const units = data.units.features;
    let covered = 0, newly = 0, uncovered = 0;
    const people = [0, 0, 0];
    const layer = L.geoJSON(data.units, { pointToLayer: (f, latlng) => {
      const p = f.properties; let color = "#c53030", k = 2;
      if (p.covered_before) { color = "#2f855a"; k = 0; covered++; }
      else if (p.covered_after) { color = "#1d6fb8"; k = 1; newly++; } else { uncovered++; }
      people[k] += p.residents || 0;
      if (p.synthetic) document.getElementById("synthetic").hidden = false;
      return L.circleMarker(latlng, { radius: 5, color, weight: 1, fillOpacity: 0.7 })
        .bindTooltip(() => Shequ.lines([`${p.name} ${p.code} · ${labels.residents} ${fmt(p.residents, 0)}`]));
    } }).addTo(map);
    const square = document.createElement("div");
    square.style.cssText = "width:10px;height:10px;background:#b42318;border:1px solid #fff";
    L.geoJSON(data.sites, { pointToLayer: (f, latlng) => {
      const p = f.properties;
      const action = labels.actions[p.action] || p.action;
      return L.marker(latlng, { icon: L.divIcon({ className: "", html: square.cloneNode() }),
                                keyboard: false })
        .bindTooltip(() => Shequ.lines([`${action}${lang === "en" ? ": " : "："}${p.name}`,
                                        `${fmt(p.cost_cny, 0)} ${labels.cny}`]));
    } }).addTo(map);
    if (units.length) map.fitBounds(layer.getBounds(), { padding: [10, 10] });
    const counts = document.getElementById("counts");
    [[labels.covered, covered, people[0]], [labels.newly, newly, people[1]],
     [labels.uncovered, uncovered, people[2]]].forEach(([label, n, r]) => {
      const div = Shequ.text("div", "", "stat");
      div.append(Shequ.text("div", fmt(n, 0), "value"),
                 Shequ.text("div", `${label} · ${labels.residents} ${fmt(r, 0)}`, "label"));
      counts.appendChild(div);
    });
  }, () => { status.textContent = labels.failed; });
})();
