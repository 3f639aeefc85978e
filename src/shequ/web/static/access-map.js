// The life-circle map of /access: each community's point coloured by the share of its
// residents covered; a click asks which services a point reaches.  Data comes from the
// page's #access-data block (words already in the page's language); names reach the page
// only as text nodes.  The first question walks the street network, which the server
// loads then (2–3 s): the panel says at once that it is asking and is marked busy.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("access-data").textContent);
  const points = data.points;
  const text = data.text;
  const numbers = new Intl.NumberFormat(data.lang, { maximumFractionDigits: 0 });
  const el = document.getElementById("access-map");
  const map = Shequ.map(el);  // zoom buttons titled in the page's language
  const layer = L.featureGroup().addTo(map);
  const maxResidents = Math.max(1, ...points.map((p) => p.residents || 0));
  for (const p of points) {
    const colour = p.share >= 1 ? "#1a9850" : (p.share > 0 ? "#fdae61" : "#d73027");
    const lines = [`${p.name || ""} ${p.code}`, `${text.residents}: ${numbers.format(p.residents || 0)}`];
    if (p.missing.length) lines.push(`${text.missing}: ${p.missing.length}`);
    L.circleMarker([p.lat, p.lon], { radius: 4 + 10 * Math.sqrt((p.residents || 0) / maxResidents),
      color: colour, fillColor: colour, fillOpacity: 0.7, weight: 1 })
      .bindTooltip(() => Shequ.lines(lines))
      .addTo(layer);
  }
  if (points.length) { map.fitBounds(layer.getBounds().pad(0.05)); } else { map.setView([35, 105], 4); }
  document.getElementById("access-map").dataset.loaded = String(points.length);

  const box = document.getElementById("point-result");

  function show(answer) {
    if (!answer.snapped) {
      box.textContent = text.unsnapped.replace("__D__", numbers.format(answer.snap_distance_m));
      box.dataset.answered = "0";
      return;
    }
    const parts = [];
    for (const t of answer.tiers) {
      parts.push(Shequ.text("h3", `${t.name} (${t.distance_m} ${text.metres})`));
      const list = document.createElement("ul");
      for (const r of t.reached) {
        list.append(Shequ.text("li", `✓ ${r.type_name} — ${numbers.format(r.distance_m)} ${text.metres}`));
      }
      for (const m of t.missing) { list.append(Shequ.text("li", `✗ ${m.type_name}`, "missing")); }
      parts.push(list);
    }
    parts.push(Shequ.text("h3", `${text.inReach} (${answer.facilities.length})`));
    const near = document.createElement("ul");
    for (const f of answer.facilities.slice(0, 15)) {
      near.append(Shequ.text("li", `${f.name || f.type_name} — ${numbers.format(f.distance_m)} ${text.metres}`));
    }
    parts.push(near);
    box.replaceChildren(...parts);
    box.classList.remove("muted");
    box.dataset.answered = String(answer.facilities.length);
  }

  async function ask(lng, lat) {
    const query = new URLSearchParams({ lon: lng, lat: lat, tier: data.tier, lang: data.lang });
    const response = await fetch(`/api/v1/access/point?${query}`,
                                 { headers: { "Accept-Language": data.lang } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.detail || text.failed);
    return body;
  }

  let marker = null;
  let latest = 0;
  map.on("click", (event) => {
    const { lat, lng } = event.latlng;
    if (marker) { marker.remove(); }
    marker = L.marker([lat, lng]).addTo(map);
    const asked = ++latest;
    delete box.dataset.answered;
    box.classList.add("muted");
    box.textContent = text.asking;
    Shequ.busy(box, ask(lng, lat)).then((answer) => {
      if (asked === latest) show(answer);
    }, (error) => {
      if (asked !== latest) return;
      box.textContent = error instanceof TypeError ? text.failed : (error.message || text.failed);
      box.dataset.failed = "true";
    });
  });
})();
