// The indicator map of /indicators: each child division coloured by its status against
// the target; where the registry holds the children's shapes they are drawn as a
// choropleth, else a circle at each representative point, its area ∝ residents (a circle
// growing with the value made the failing villages the smallest dots).  A click drills
// down.  Points come from the page's #indicator-points block (statuses already in the
// page's language); names reach the page only as text nodes.
(function () {
  "use strict";
  const el = document.getElementById("indicator-map");
  const points = JSON.parse(document.getElementById("indicator-points").textContent);
  const words = Shequ.words();
  const lang = el.dataset.lang || "zh-CN";
  const numbers = new Intl.NumberFormat(lang, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const whole = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
  const map = Shequ.map(el);  // zoom buttons titled in the page's language
  const byCode = Object.fromEntries(points.map((p) => [p.code, p]));
  const drill = (code) => {
    const query = new URLSearchParams({ division: code, indicator: el.dataset.indicator });
    // the year and the hierarchy asked for stay with the drill-down
    const here = new URLSearchParams(window.location.search);
    for (const key of ["year", "hierarchy"]) if (here.get(key)) query.set(key, here.get(key));
    window.location = `/indicators?${query}`;
  };
  const describe = (p) => [`${p.name} ${p.value === null ? "—" : numbers.format(p.value)}`, p.status,
                           `${words.panel_residents || ""}: ${whole.format(p.residents || 0)}`];

  const layer = L.featureGroup().addTo(map);
  const most = Math.max(1, ...points.map((p) => p.residents || 0));
  points.forEach((p) => {
    const circle = L.circleMarker([p.lat, p.lon], {
      radius: 4 + 14 * Math.sqrt((p.residents || 0) / most), color: "#333", weight: 1,
      fillColor: p.colour, fillOpacity: 0.85, className: `status-${p.state}`,
    }).addTo(layer);
    circle.bindTooltip(() => Shequ.lines(describe(p)));
    circle.on("click", () => drill(p.code));
  });
  if (points.length) { map.fitBounds(layer.getBounds().pad(0.2)); } else { map.setView([35, 105], 4); }

  // the legend: the statuses present, in the page's words and colours, and what size means
  const seen = new Map();
  for (const p of points) if (!seen.has(p.state)) seen.set(p.state, { colour: p.colour, label: p.status });
  Shequ.legend(map, words.status || "", [...seen.values()].concat(
    [{ colour: "#ffffff", circle: true, label: words.size || "" }]));
  el.dataset.ready = String(points.length);

  // the children's shapes, where the registry holds them: the same colours, as areas
  Shequ.childShapes(el.dataset.division, lang).then((shapes) => {
    if (!shapes) return;
    const drawn = shapes.features.filter((f) => byCode[f.properties.code]);
    if (!drawn.length) return;
    const areas = Shequ.choropleth(map, { type: "FeatureCollection", features: drawn },
                                   (f) => byCode[f.properties.code].colour,
                                   (f) => describe(byCode[f.properties.code]),
                                   (f) => drill(f.properties.code));
    areas.bringToBack();
    // circles stay only for the children without a shape
    layer.eachLayer((circle) => {
      const p = points.find((q) => circle.getLatLng().equals([q.lat, q.lon]));
      if (p && drawn.some((f) => f.properties.code === p.code)) layer.removeLayer(circle);
    });
    map.fitBounds(areas.getBounds().pad(0.05));
    el.dataset.choropleth = String(drawn.length);
  });
})();
