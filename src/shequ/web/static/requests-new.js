// The report form: only the questions of the chosen kind; a pin placed by a click on the
// map (Leaflet without tiles: the pages work without internet) or by the browser's
// location, which fills the hidden latitude and longitude and offers the facilities
// nearest it; and, whenever the kind, pin or facility changes, who will handle the
// request and by when, asked of /api/v1/request-handling.  Text from the server reaches
// the page only as text nodes.
(function () {
  "use strict";
  const form = document.getElementById("request-form");
  if (!form) return;
  const lang = form.dataset.lang || "zh-CN";
  const kind = document.getElementById("service_code");
  const lat = document.getElementById("latitude");
  const lon = document.getElementById("longitude");
  const facility = document.getElementById("facility_id");
  const pinState = document.getElementById("pin-state");
  const handling = document.getElementById("handling");
  const handlingLines = document.getElementById("handling-lines");

  function showQuestions() {
    for (const box of form.querySelectorAll("fieldset.questions")) {
      const mine = box.dataset.kind === kind.value;
      box.hidden = !mine;
      box.disabled = !mine;  // other kinds' answers are neither checked nor sent
    }
  }
  showQuestions();

  let asked = 0;
  function updateHandling() {
    const params = new URLSearchParams({ service_code: kind.value, lang: lang });
    if (lat.value && lon.value) { params.set("lat", lat.value); params.set("lon", lon.value); }
    if (facility.value) params.set("facility_id", facility.value);
    if (!params.has("lat") && !params.has("facility_id")) return;
    const mine = ++asked;
    const work = fetch(`/api/v1/request-handling?${params}`, { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((answer) => {
        if (mine !== asked) return;  // a later change answered first
        const lines = answer ? answer.summary : [handling.dataset.tNone];
        handlingLines.replaceChildren(...lines.map((line) => Shequ.text("p", line)));
        handling.dataset.loaded = String(mine);
      });
    Shequ.busy(handling, work).catch(() => {});
  }

  function nearbyFacilities(latitude, longitude) {
    const params = new URLSearchParams({ latitude: latitude, longitude: longitude,
      radius: 2000, per_page: 10, lang: lang, full: "true" });
    return fetch(`/hsds/services?${params}`).then((r) => (r.ok ? r.json() : null)).then((page) => {
      if (!page) return;
      const chosen = facility.value;
      const keep = facility.options[0];
      const options = [keep];
      for (const s of page.contents) {
        const where = ((s.service_at_locations || [])[0] || {}).location || {};
        if (!where.external_identifier) continue;
        const option = Shequ.text("option", s.name);
        option.value = String(where.external_identifier);
        option.selected = option.value === chosen;
        options.push(option);
      }
      facility.replaceChildren(...options);
    });
  }

  const data = JSON.parse(document.getElementById("report-map-data").textContent);
  const map = Shequ.map("report-map").setView(data.centre, 16);
  let pin = null;
  function place(latitude, longitude) {
    lat.value = latitude.toFixed(6);
    lon.value = longitude.toFixed(6);
    if (pin) pin.setLatLng([latitude, longitude]);
    else pin = L.circleMarker([latitude, longitude], { radius: 9, weight: 3, color: "#c53030",
      fillOpacity: 0.6 }).addTo(map);
    pinState.textContent = pinState.dataset.tPlaced;
    nearbyFacilities(latitude, longitude).then(updateHandling, updateHandling);
  }
  if (data.pin) {
    pin = L.circleMarker(data.pin, { radius: 9, weight: 3, color: "#c53030", fillOpacity: 0.6 })
      .addTo(map);
  }
  map.on("click", (event) => {
    place(event.latlng.lat, event.latlng.lng);
    map.getContainer().dataset.pinned = "true";
  });

  const locate = document.getElementById("use-my-location");
  if (!navigator.geolocation) {
    locate.hidden = true;
  } else {
    locate.addEventListener("click", () => {
      const found = new Promise((resolve, reject) => {
        navigator.geolocation.getCurrentPosition(resolve, reject,
          { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
      });
      Shequ.busy(locate, found).then((position) => {
        place(position.coords.latitude, position.coords.longitude);
        map.setView([position.coords.latitude, position.coords.longitude], 17);
      }, () => { pinState.textContent = locate.dataset.tFailed; });
    });
  }

  kind.addEventListener("change", () => { showQuestions(); updateHandling(); });
  facility.addEventListener("change", updateHandling);
})();
