// One siting scenario on /plan: its map (communities covered before, newly covered, not
// covered; the sites), counts, cost by funding source, indicator and life-circle deltas.
// Scenario, site and division names come from the database: they reach the page only as
// text nodes (table cells, tooltips built by Shequ.lines).
(function () {
  "use strict";
  const section = document.getElementById("scenario");
  const id = encodeURIComponent(section.dataset.id);
  const lang = section.dataset.lang;
  const labels = JSON.parse(document.getElementById("plan-labels").textContent);
  const fmt = (v, d) => (v === null || v === undefined) ? "—"
    : Number(v).toLocaleString(lang, { maximumFractionDigits: d });
  const cell = (row, text, cls) => {
    const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls;
  };
  const map = L.map("map", { attributionControl: false, zoomSnap: 0.25 });
  fetch(`/api/v1/plan/scenarios/${id}/map`).then((r) => r.json()).then((data) => {
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
      return L.marker(latlng, { icon: L.divIcon({ className: "", html: square.cloneNode() }) })
        .bindTooltip(() => Shequ.lines([`${p.action}: ${p.name} · ${fmt(p.cost_cny, 0)} CNY`]));
    } }).addTo(map);
    if (units.length) map.fitBounds(layer.getBounds(), { padding: [10, 10] }); else map.setView([35, 110], 4);
    const counts = document.getElementById("counts");
    [[labels.covered, covered, people[0]], [labels.newly, newly, people[1]],
     [labels.uncovered, uncovered, people[2]]].forEach(([label, n, r]) => {
      const div = Shequ.text("div", "", "stat");
      div.append(Shequ.text("div", fmt(n, 0), "value"),
                 Shequ.text("div", `${label} · ${labels.residents} ${fmt(r, 0)}`, "label"));
      counts.appendChild(div);
    });
  });
  fetch(`/api/v1/plan/scenarios/${id}`).then((r) => r.json()).then((s) => {
    document.getElementById("scenario-title").textContent = `${s.name} (${s.division_code})`;
    const cost = document.querySelector("#cost tbody");
    Object.entries(s.cost.by_funding_source).forEach(([k, v]) => {
      const row = cost.insertRow(); cell(row, k); cell(row, fmt(v, 0), "num");
    });
    const ev = s.evaluation; if (!ev) return;
    const list = document.getElementById("headlines"); list.replaceChildren();
    ev.headlines.forEach((h) => list.appendChild(Shequ.text("li", h)));
    const body = document.querySelector("#deltas tbody");
    ev.indicator_deltas.filter((d) => d.level <= 4 && d.delta).forEach((d) => {
      const row = body.insertRow();
      cell(row, `${d.indicator} ${lang === "en" ? d.indicator_name_en : d.indicator_name_zh}`);
      cell(row, `${d.name} ${d.division_code}`); cell(row, d.level);
      cell(row, fmt(d.before, 1), "num"); cell(row, fmt(d.after, 1), "num"); cell(row, fmt(d.delta, 1), "num");
    });
    const circles = document.querySelector("#circles tbody");
    (ev.life_circle_deltas || []).filter((d) => d.division_code === s.division_code).forEach((d) => {
      const row = circles.insertRow(); cell(row, d.division_code); cell(row, d.tier);
      cell(row, fmt(100 * (d.share_before || 0), 1) + "%", "num");
      cell(row, fmt(100 * (d.share_after || 0), 1) + "%", "num");
      cell(row, fmt(d.complete_before, 0), "num"); cell(row, fmt(d.complete_after, 0), "num");
    });
  });
})();
