// The region's facilities and communities on a Leaflet map with no tile layer: the pages
// must work without internet, so the map draws Shequ's own data on a plain background.
// Names come from the database, so popups and tooltips are built from text nodes; the
// words of statuses come from the page's #region-data block, in the page's language.
(function () {
  "use strict";
  const el = document.getElementById("map");
  if (!el) return;
  const region = encodeURIComponent(el.dataset.region);
  const lang = el.dataset.lang || "zh-CN";
  const words = JSON.parse(document.getElementById("region-data").textContent);
  const mapWords = Shequ.words();
  const map = Shequ.map(el);  // zoom buttons titled in the page's language
  const palette = {
    comprehensive: "#b42318", elderly: "#d97706", childcare: "#db2777", education: "#7c3aed",
    health: "#059669", culture: "#2563eb", sports: "#0891b2", convenience: "#6b7280",
    administration: "#111827",
  };
  const json = (url) => fetch(url, { headers: { "Accept-Language": lang } }).then((r) => {
    if (!r.ok) throw new Error(String(r.status));
    return r.json();
  });
  const loading = Promise.all([
    json("/api/v1/facility-types"),
    json(`/api/v1/facilities?division=${region}&limit=5000`),
    json(`/api/v1/divisions/${region}/tree?depth=2`),
  ]);
  // About a thousand facilities and two hundred communities: worth saying it is loading.
  Shequ.busy(el, loading).then(([types, facilities, tree]) => {
    const typeInfo = Object.fromEntries(types.map((t) => [t.code, t]));
    const bounds = [];
    const communities = L.layerGroup().addTo(map);
    for (const township of tree.children) {
      for (const unit of township.children) {
        if (unit.longitude == null) continue;
        const urban = (unit.urban_rural || "").startsWith("1");
        L.circleMarker([unit.latitude, unit.longitude], {
          radius: urban ? 4 : 3, color: urban ? "#334155" : "#94a3b8", weight: 1, fillOpacity: 0.15,
        }).bindTooltip(() => Shequ.lines([`${unit.name} (${unit.code})`])).addTo(communities);
        bounds.push([unit.latitude, unit.longitude]);
      }
    }
    const layer = L.layerGroup().addTo(map);
    for (const f of facilities) {
      if (f.longitude == null) continue;
      const info = typeInfo[f.type_code] || {};
      const name = lang === "en" ? info.name_en : info.name_zh;
      L.circleMarker([f.latitude, f.longitude], {
        radius: 5, color: palette[info.service_area] || "#444", weight: 1, fillOpacity: 0.8,
      }).bindPopup(() => Shequ.lines([Shequ.text("b", f.name), name || "", words.statuses[f.status] || ""]))
        .addTo(layer);
      bounds.push([f.latitude, f.longitude]);
    }
    if (bounds.length) map.fitBounds(bounds, { padding: [10, 10] });
    else map.setView([35, 105], 4);
    el.dataset.loaded = String(facilities.length);
    // the legend of the facility colours (the kinds present only)
    const present = [...new Set(facilities.map((f) => (typeInfo[f.type_code] || {}).service_area))]
      .filter((area) => area && palette[area]);
    Shequ.legend(map, mapWords.facilities || "", present.map((area) => ({
      colour: palette[area], circle: true, label: (mapWords.areas || {})[area] || area })));
    Shequ.streets(map, 14);
    // the townships' shapes, where the registry holds them, classed by their facilities
    Shequ.childShapes(el.dataset.region, lang).then((shapes) => {
      if (!shapes) return;
      const counts = {};
      for (const f of facilities) {
        const township = (f.division_code || "").slice(0, 9);
        counts[township] = (counts[township] || 0) + 1;
      }
      const countOf = (feature) => counts[feature.properties.code.slice(0, 9)] || 0;
      const scale = Shequ.classed(shapes.features.map(countOf), 5);
      const layer = Shequ.choropleth(map, shapes, (feature) => scale.colour(countOf(feature)),
                                     (feature) => [`${feature.properties.name} (${feature.properties.code})`,
                                                   `${mapWords.facility_count || ""}: ${countOf(feature)}`]);
      layer.bringToBack();
      Shequ.legend(map, mapWords.facility_count || "", scale.items((v) => String(Math.round(v))),
                   "bottomleft");
      el.dataset.choropleth = String(shapes.features.length);
    });
  }, () => {
    map.setView([35, 105], 4);
    el.after(Shequ.text("p", words.failed, "notice"));
    el.dataset.failed = "true";
  });
})();
