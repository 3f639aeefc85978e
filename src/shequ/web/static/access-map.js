// The life-circle map of /access: each community's point coloured by the share of its
// residents covered and sized by its residents; the tier's walking catchments, one per
// required type (GET /api/v1/network/catchments); the children's shapes classed by the
// share covered where the registry holds them; the streets when zoomed in.  A click on a
// community opens its panel (what it reaches, what it lacks, its indicators); a click
// elsewhere asks which services that point reaches.  Data comes from the page's
// #access-data and #access-tier blocks (words already in the page's language); names
// reach the page only as text nodes.  The first question walks the street network, which
// the server loads then (2–3 s): the panel says at once that it is asking and is busy.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("access-data").textContent);
  const tier = JSON.parse(document.getElementById("access-tier").textContent);
  const words = Shequ.words();
  const points = data.points;
  const text = data.text;
  const numbers = new Intl.NumberFormat(data.lang, { maximumFractionDigits: 0 });
  const shares = new Intl.NumberFormat(data.lang, { style: "percent", maximumFractionDigits: 0 });
  const el = document.getElementById("access-map");
  const map = Shequ.map(el);  // zoom buttons titled in the page's language
  const COVERED = { all: "#1a9850", some: "#fdae61", none: "#d73027" };
  const coverageOf = (share) => (share >= 1 ? "all" : (share > 0 ? "some" : "none"));
  const layer = L.featureGroup().addTo(map);
  const maxResidents = Math.max(1, ...points.map((p) => p.residents || 0));
  for (const p of points) {
    const colour = COVERED[coverageOf(p.share)];
    const lines = [`${p.name || ""} ${p.code}`, `${text.residents}: ${numbers.format(p.residents || 0)}`];
    if (p.missing.length) lines.push(`${text.missing}: ${p.missing.length}`);
    L.circleMarker([p.lat, p.lon], { code: p.code, radius: 4 + 10 * Math.sqrt((p.residents || 0) / maxResidents),
      color: colour, fillColor: colour, fillOpacity: 0.7, weight: 1,
      className: `community coverage-${coverageOf(p.share)}` })
      .bindTooltip(() => Shequ.lines(lines))
      .on("click", (event) => {
        L.DomEvent.stopPropagation(event);
        pointAt(p.lat, p.lon);  // what its point reaches on foot, whatever the panel does
        openPanel(p);  // the community's panel
      })
      .addTo(layer);
  }
  if (points.length) { map.fitBounds(layer.getBounds().pad(0.05)); } else { map.setView([35, 105], 4); }
  // each circle names its community (drawn once the map has its view)
  layer.eachLayer((circle) => { circle.getElement().dataset.code = circle.options.code; });
  el.dataset.loaded = String(points.length);
  Shequ.legend(map, words.coverage || "", [
    { colour: COVERED.all, circle: true, label: words.covered_all || "" },
    { colour: COVERED.some, circle: true, label: words.covered_some || "" },
    { colour: COVERED.none, circle: true, label: words.covered_none || "" },
    { colour: "#ffffff", circle: true, label: words.size || "" }]);
  Shequ.streets(map, 15);

  // the tier's walking catchments, one colour per required type, under the points
  const TYPE_COLOURS = ["#2563eb", "#7c3aed", "#db2777", "#0891b2", "#d97706", "#059669",
                        "#6b7280", "#b42318"];
  // asked once the page has loaded: the first request walks the streets for every type
  const afterLoad = (work) => (document.readyState === "complete" ? work()
    : window.addEventListener("load", work, { once: true }));
  afterLoad(() => fetch(`/api/v1/network/catchments?${new URLSearchParams({ tier: tier.code, lang: data.lang })}`,
                        { headers: { "Accept-Language": data.lang } })
    .then((r) => (r.ok ? r.json() : null), () => null)
    .then((body) => {
      if (!body || !body.features.length) return;
      const items = [];
      body.features.forEach((feature, i) => {
        const colour = TYPE_COLOURS[i % TYPE_COLOURS.length];
        L.geoJSON(feature, { interactive: false,
                             style: { color: colour, weight: 1, fillColor: colour, fillOpacity: 0.12,
                                      className: "catchment" } }).addTo(map).bringToBack();
        items.push({ colour: colour, label: feature.properties.type_name });
      });
      Shequ.legend(map, Shequ.fill(words.catchments_of || "", { tier: tier.name,
                                                                  distance: numbers.format(tier.distance_m) }),
                   items, "topright");
      el.dataset.catchments = String(body.features.length);
    }));

  // the children's shapes, where the registry holds them, classed by the share covered
  if (tier.division) {
    afterLoad(() => Shequ.childShapes(tier.division, data.lang).then((shapes) => {
      if (!shapes) return;
      const sums = {};
      for (const p of points) {
        for (const f of shapes.features) {
          const code = f.properties.code;
          const prefix = code.replace(/(000)+$/, "");
          if (p.code.startsWith(prefix)) {
            const s = sums[code] || (sums[code] = { residents: 0, covered: 0 });
            s.residents += p.residents || 0;
            s.covered += (p.residents || 0) * (p.share || 0);
          }
        }
      }
      const shareOf = (f) => { const s = sums[f.properties.code]; return s && s.residents ? s.covered / s.residents : null; };
      const scale = Shequ.classed(shapes.features.map(shareOf), 5);
      Shequ.choropleth(map, shapes, (f) => scale.colour(shareOf(f)),
                       (f) => [`${f.properties.name} (${f.properties.code})`,
                               shareOf(f) == null ? (words.none || "") : shares.format(shareOf(f))]).bringToBack();
      Shequ.legend(map, words.coverage || "", scale.items((v) => shares.format(v), words.none), "bottomleft");
      el.dataset.choropleth = String(shapes.features.length);
    }));
  }

  // a community's panel: what it reaches, what it lacks, its indicators
  const panel = document.getElementById("community-panel");
  let shown = 0;
  function openPanel(p) {
    const mine = ++shown;
    const missing = new Set(p.missing);
    const reached = tier.required.filter((r) => !missing.has(r.code));
    const lacking = tier.required.filter((r) => missing.has(r.code));
    const list = (rows, mark, cls) => {
      const ul = document.createElement("ul");
      for (const r of rows) ul.append(Shequ.text("li", `${mark} ${r.name}`, cls));
      return ul;
    };
    const parts = [
      Shequ.text("h2", `${words.panel_title || ""}: ${p.name || ""}`),
      Shequ.text("p", `${p.code} · ${words.panel_residents || ""} ${numbers.format(p.residents || 0)} · ${shares.format(p.share || 0)}`),
      Shequ.text("h3", `${words.panel_reaches || ""} (${tier.name}, ${numbers.format(tier.distance_m)} ${text.metres})`),
      list(reached, "✓", ""),
      Shequ.text("h3", words.panel_lacks || ""),
      lacking.length ? list(lacking, "✗", "missing") : Shequ.text("p", words.panel_nothing_missing || ""),
      Shequ.text("h3", words.panel_indicators || ""),
    ];
    const indicators = document.createElement("ul");
    indicators.dataset.testid = "panel-indicators";
    const link = document.createElement("a");
    link.href = `/indicators?${new URLSearchParams({ division: p.code })}`;
    link.textContent = words.panel_open_indicators || "";
    parts.push(indicators, link);
    panel.replaceChildren(...parts);
    panel.hidden = false;
    panel.dataset.code = p.code;
    Shequ.busy(indicators, fetch(`/api/v1/indicators/dashboard/${encodeURIComponent(p.code)}`,
                                 { headers: { "Accept-Language": data.lang } })
      .then((r) => (r.ok ? r.json() : null), () => null))
      .then((board) => {
        if (mine !== shown || !board) return;
        for (const line of board.indicators.filter((l) => l.value !== null).slice(0, 8)) {
          const item = Shequ.text("li", `${line.name}: ${Number(line.value).toLocaleString(data.lang, { maximumFractionDigits: 2 })}${line.unit ? " " + line.unit : ""} — ${tier.statuses[line.status || "no_data"] || ""}`);
          item.style.borderLeft = `4px solid ${tier.colours[line.status || "no_data"] || "#6b7280"}`;
          item.style.paddingLeft = "4px";
          indicators.append(item);
        }
        indicators.dataset.count = String(indicators.children.length);
      });
  }

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
  map.on("click", (event) => pointAt(event.latlng.lat, event.latlng.lng));

  function pointAt(lat, lng) {
    if (marker) { marker.remove(); }
    // not interactive: a click at the pin (a community's centre) reaches the circle
    marker = L.marker([lat, lng], { interactive: false, keyboard: false }).addTo(map);
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
  }
})();
