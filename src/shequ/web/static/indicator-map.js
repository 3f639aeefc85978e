// The indicator map of /indicators: a circle at each child division's representative point,
// colour = status, area ∝ value; a click drills down.  Points come from the page's
// #indicator-points block (statuses already in the page's language); names reach the page
// only as text nodes.
(function () {
  "use strict";
  const el = document.getElementById("indicator-map");
  const points = JSON.parse(document.getElementById("indicator-points").textContent);
  const numbers = new Intl.NumberFormat(el.dataset.lang || "zh-CN",
                                        { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const map = Shequ.map(el);  // zoom buttons titled in the page's language
  const low = Number(el.dataset.low), high = Number(el.dataset.high);
  const layer = L.featureGroup().addTo(map);
  points.forEach((p) => {
    const share = (p.value === null || high <= low) ? 0.5 : (p.value - low) / (high - low);
    const circle = L.circleMarker([p.lat, p.lon], {
      radius: 6 + 14 * Math.sqrt(Math.max(share, 0)), color: "#333", weight: 1,
      fillColor: p.colour, fillOpacity: 0.8,
    }).addTo(layer);
    circle.bindTooltip(() => Shequ.lines([
      `${p.name} ${p.value === null ? "—" : numbers.format(p.value)}`, p.status]));
    circle.on("click", () => {
      const query = new URLSearchParams({ division: p.code, indicator: el.dataset.indicator });
      window.location = `/indicators?${query}`;
    });
  });
  if (points.length) { map.fitBounds(layer.getBounds().pad(0.2)); } else { map.setView([35, 105], 4); }
  el.dataset.ready = String(points.length);
})();
