// The directory's map: Leaflet without a tile layer (the pages work without internet),
// the listed services as dots linking to their pages, the chosen point as a ring.
// On the list's map a click orders the list by distance from there; "use my location"
// does the same from the browser's position.  Names reach the map only as text nodes.
(function () {
  "use strict";
  const el = document.getElementById("services-map");
  const source = document.getElementById("directory-map-data");
  if (!el || !source) return;
  const data = JSON.parse(source.textContent);
  const map = Shequ.map(el);
  const points = [];
  for (const m of data.markers) {
    const marker = L.circleMarker([m.lat, m.lon], { radius: 7, weight: 2,
      color: m.open ? "#2f855a" : "#61707f", fillOpacity: 0.8 })
      .bindTooltip(() => Shequ.lines([m.name])).addTo(map);
    if (m.url) marker.on("click", () => { window.location.href = m.url; });
    points.push([m.lat, m.lon]);
  }
  if (data.point) {
    L.circle(data.point, { radius: 60, color: "#1d6fb8", weight: 2, fillOpacity: 0.2 }).addTo(map);
    points.push(data.point);
  }
  if (points.length > 1) map.fitBounds(points, { padding: [24, 24], maxZoom: 16 });
  else map.setView(points[0] || data.centre, 16);
  el.dataset.loaded = String(data.markers.length);

  const form = document.getElementById("directory-search");
  if (!form || el.dataset.small) return;
  const lat = document.getElementById("lat");
  const lon = document.getElementById("lon");
  function orderFrom(latitude, longitude) {
    lat.value = latitude.toFixed(5);
    lon.value = longitude.toFixed(5);
    form.requestSubmit();
  }
  map.on("click", (event) => orderFrom(event.latlng.lat, event.latlng.lng));
  const button = document.getElementById("use-my-location");
  const status = document.getElementById("location-status");
  if (!navigator.geolocation) {
    button.hidden = true;
    return;
  }
  button.addEventListener("click", () => {
    const found = new Promise((resolve, reject) => {
      navigator.geolocation.getCurrentPosition(resolve, reject,
        { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
    });
    Shequ.busy(button, found).then(
      (position) => orderFrom(position.coords.latitude, position.coords.longitude),
      () => { status.textContent = button.dataset.tFailed; });
  });
})();
