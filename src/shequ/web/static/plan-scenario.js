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
  // the sites' colours: none of them the units' green, blue or red (covered, newly
  // covered, uncovered), so that a site and what it serves are told from the units
  const PALETTE = ["#7570b3", "#d95f02", "#e7298a", "#e6ab02", "#a6761d", "#222222",
                   "#17becf", "#808000"];
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
    // What each site covers (data.coverage.rule: its own unit, or the units nearest to it
    // within the model's distance): a line in the site's colour to every unit it serves,
    // and the counts in its tooltip and in the table under the map.
    const sites = new Map(data.sites.features.map((f, i) => [f.properties.id,
      { feature: f, colour: PALETTE[i % PALETTE.length], names: [] }]));
    const lines = L.layerGroup().addTo(map);
    for (const f of units) {
      const site = sites.get(f.properties.served_by);
      if (!site) continue;
      site.names.push(f.properties.name);
      const [lon, lat] = site.feature.geometry.coordinates;
      const [ulon, ulat] = f.geometry.coordinates;
      L.polyline([[lat, lon], [ulat, ulon]], { color: site.colour, weight: 2, opacity: 0.85,
                                               interactive: false, className: "coverage-line" })
        .addTo(lines);
    }
    const sep = lang === "en" ? ", " : "、";
    L.geoJSON(data.sites, { pointToLayer: (f, latlng) => {
      const p = f.properties;
      const action = labels.actions[p.action] || p.action;
      const site = sites.get(p.id);
      const square = document.createElement("div");
      square.className = "plan-site";
      square.dataset.site = String(p.id);
      square.style.cssText = `width:12px;height:12px;background:${site ? site.colour : "#b42318"};border:2px solid #fff;box-shadow:0 0 0 1px #333`;
      const told = [`${action}${lang === "en" ? ": " : "："}${p.name}`,
                    `${fmt(p.cost_cny, 0)} ${labels.cny}`];
      if (p.covers_units !== undefined && (p.action === "new" || p.action === "reuse")) {
        told.push(Shequ.fill(labels.covers, { units: fmt(p.covers_units, 0),
                                              residents: fmt(p.covers_residents, 0) }));
        if (site && site.names.length) {
          told.push(site.names.slice(0, 6).join(sep) + (site.names.length > 6 ? sep + "…" : ""));
        }
      }
      return L.marker(latlng, { icon: L.divIcon({ className: "", html: square, iconSize: [12, 12] }),
                                keyboard: false })
        .bindTooltip(() => Shequ.lines(told));
    } }).addTo(map);
    if (units.length) map.fitBounds(layer.getBounds(), { padding: [10, 10] });
    const table = document.getElementById("site-coverage");
    const body = table.querySelector("tbody");
    for (const { feature, colour } of sites.values()) {
      const p = feature.properties;
      if (p.action !== "new" && p.action !== "reuse") continue;
      const row = document.createElement("tr");
      row.dataset.site = String(p.id);
      const head = Shequ.text("th", "");
      head.scope = "row";
      const swatch = Shequ.text("span", "■");
      swatch.style.color = colour;
      swatch.setAttribute("aria-hidden", "true");
      head.append(swatch, document.createTextNode(` ${p.name}`));
      row.append(head, Shequ.text("td", labels.actions[p.action] || p.action),
                 Shequ.text("td", fmt(p.covers_units, 0), "num"),
                 Shequ.text("td", fmt(p.covers_residents, 0), "num"));
      body.append(row);
    }
    table.hidden = !body.children.length;
    const rule = document.getElementById("coverage-rule");
    rule.textContent = data.coverage && data.coverage.rule === "within"
      ? Shequ.fill(labels.rule_within, { distance: fmt(data.coverage.radius_m, 0) })
      : labels.rule_own_unit;
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
