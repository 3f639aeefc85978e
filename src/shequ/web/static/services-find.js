// Services near a point: Shequ's HSDS API drawn on a Leaflet map with no tile layer (the
// pages work without internet) and listed nearest first; click the map to move the point.
// Names come from the database: the list and the tooltips are built from text nodes.
(function () {
  "use strict";
  const el = document.getElementById("services-map");
  if (!el) return;
  const list = document.getElementById("results");
  const lang = list.dataset.lang || "zh-CN";
  const latInput = document.getElementById("lat");
  const lonInput = document.getElementById("lon");
  const map = L.map(el, { attributionControl: false });
  const layer = L.layerGroup().addTo(map);
  let here = null;

  const text = Shequ.text;

  function search() {
    const lat = parseFloat(latInput.value);
    const lon = parseFloat(lonInput.value);
    const radius = parseFloat(document.getElementById("radius").value) || 2000;
    const openNow = document.getElementById("open-now").checked;
    const params = new URLSearchParams({ latitude: lat, longitude: lon, radius: radius,
      per_page: 50, lang: lang, full: "true" });
    if (openNow) params.set("open_now", "true");
    if (here) here.remove();
    here = L.circle([lat, lon], { radius: radius, color: "#1d6fb8", weight: 1, fillOpacity: 0.05 })
      .addTo(map);
    map.fitBounds(here.getBounds());
    fetch(`/hsds/services?${params}`).then((r) => r.json()).then((page) => {
      layer.clearLayers();
      list.replaceChildren();
      document.getElementById("total").textContent = `(${page.total_items})`;
      if (!page.contents.length) list.append(text("li", list.dataset.tNone, "muted"));
      for (const s of page.contents) {
        const item = document.createElement("li");
        item.dataset.testid = "result";
        item.append(text("b", s.name), text("span", ` · ${s.alternate_name || ""} · `),
          text("span", `${Math.round(s.distance_m)} m `),
          text("span", s.open_now ? list.dataset.tOpen : list.dataset.tClosed,
               s.open_now ? "badge ok" : "badge"));
        const loc = (s.service_at_locations || [])[0] || {};
        const where = loc.location || {};
        if (where.latitude != null) {
          L.circleMarker([where.latitude, where.longitude], { radius: 6,
            color: s.open_now ? "#2f855a" : "#61707f", fillOpacity: 0.8 })
            .bindTooltip(() => Shequ.lines([s.name])).addTo(layer);
        }
        const link = text("a", ` ${list.dataset.tAsk}`);
        link.href = `/services/requests/new?${new URLSearchParams({
          facility: where.external_identifier ?? "", lang: lang })}`;
        link.dataset.testid = "ask";
        item.append(link);
        list.append(item);
      }
      list.dataset.loaded = String(page.contents.length);
    });
  }

  map.on("click", (event) => {
    latInput.value = event.latlng.lat.toFixed(5);
    lonInput.value = event.latlng.lng.toFixed(5);
    search();
  });
  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  map.setView([parseFloat(latInput.value), parseFloat(lonInput.value)], 15);
  search();
})();
