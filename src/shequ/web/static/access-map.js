// The life-circle map of /access: each community's point coloured by the share of its
// residents covered; a click asks which services a point reaches.  Data comes from the
// page's #access-data block; names reach the page only as text nodes.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("access-data").textContent);
  const points = data.points;
  const text = data.text;
  const map = L.map("access-map", { attributionControl: false });
  const layer = L.featureGroup().addTo(map);
  const maxResidents = Math.max(1, ...points.map((p) => p.residents || 0));
  for (const p of points) {
    const colour = p.share >= 1 ? "#1a9850" : (p.share > 0 ? "#fdae61" : "#d73027");
    const lines = [`${p.name || ""} ${p.code}`, Math.round(p.residents).toLocaleString()];
    if (p.missing.length) lines.push(`${text.missing}: ${p.missing.length}`);
    L.circleMarker([p.lat, p.lon], { radius: 4 + 10 * Math.sqrt((p.residents || 0) / maxResidents),
      color: colour, fillColor: colour, fillOpacity: 0.7, weight: 1 })
      .bindTooltip(() => Shequ.lines(lines))
      .addTo(layer);
  }
  if (points.length) { map.fitBounds(layer.getBounds().pad(0.05)); } else { map.setView([35, 105], 4); }
  document.getElementById("access-map").dataset.loaded = String(points.length);

  let marker = null;
  map.on("click", async (event) => {
    const { lat, lng } = event.latlng;
    if (marker) { marker.remove(); }
    marker = L.marker([lat, lng]).addTo(map);
    const query = new URLSearchParams({ lon: lng, lat: lat, tier: data.tier, lang: data.lang });
    const response = await fetch(`/api/v1/access/point?${query}`);
    const box = document.getElementById("point-result");
    if (!response.ok) { box.textContent = (await response.json()).detail; return; }
    const answer = await response.json();
    if (!answer.snapped) {
      box.textContent = text.unsnapped.replace("__D__", Math.round(answer.snap_distance_m));
      return;
    }
    const parts = [];
    for (const t of answer.tiers) {
      parts.push(Shequ.text("h3", `${t.name} (${t.distance_m} ${text.metres})`));
      const list = document.createElement("ul");
      for (const r of t.reached) {
        list.append(Shequ.text("li", `✓ ${r.type_name} — ${Math.round(r.distance_m)} ${text.metres}`));
      }
      for (const m of t.missing) { list.append(Shequ.text("li", `✗ ${m.type_name}`, "missing")); }
      parts.push(list);
    }
    parts.push(Shequ.text("h3", `${text.inReach} (${answer.facilities.length})`));
    const near = document.createElement("ul");
    for (const f of answer.facilities.slice(0, 15)) {
      near.append(Shequ.text("li", `${f.name || f.type_name} — ${Math.round(f.distance_m)} ${text.metres}`));
    }
    parts.push(near);
    box.replaceChildren(...parts);
    box.classList.remove("muted");
    box.dataset.answered = String(answer.facilities.length);
  });
})();
