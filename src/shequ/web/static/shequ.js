// Shared by every page (loaded before the page's own scripts).  Text from the database
// reaches the page only as text nodes: Shequ.text builds an element whose content is set
// with textContent, Shequ.lines a block of such lines, the form that Leaflet popups and
// tooltips take (given a string, Leaflet would parse it as HTML).
(function () {
  "use strict";

  function text(tag, value, className) {
    const node = document.createElement(tag);
    node.textContent = value == null ? "" : String(value);
    if (className) node.className = className;
    return node;
  }

  // lines(["a", "b"]) → <div>a<br>b</div>; a line given as a Node is placed as it is.
  function lines(values) {
    const box = document.createElement("div");
    values.forEach((value, i) => {
      if (i) box.append(document.createElement("br"));
      box.append(value instanceof Node ? value : document.createTextNode(value == null ? "" : String(value)));
    });
    return box;
  }

  // Feedback on actions slower than ~300 ms: the element is marked busy (aria-busy) and,
  // if the work is still going after 300 ms, a line in the page's language says so.
  // The words come from <body data-busy-label>, which the layout fills.
  function busy(element, work) {
    const label = document.body.dataset.busyLabel || "…";
    element.setAttribute("aria-busy", "true");
    let note = null;
    const timer = window.setTimeout(() => {
      note = text("span", label, "busy-indicator");
      note.setAttribute("role", "status");
      element.after(note);
    }, 300);
    const done = () => {
      window.clearTimeout(timer);
      element.removeAttribute("aria-busy");
      if (note) note.remove();
    };
    return Promise.resolve(work).then((value) => { done(); return value; },
                                      (error) => { done(); throw error; });
  }

  // A Leaflet map with its zoom buttons titled in the page's language (the layout puts
  // the words on <body data-zoom-in data-zoom-out>); Leaflet's own titles are English.
  // No tiles by default: the pages work offline and draw Shequ's own data.  A deployment
  // with its own tile service names it in SHEQU_TILE_URL, which the layout puts on
  // <body data-tile-url> ({z}/{x}/{y} URL template).
  function map(element, options) {
    const made = L.map(element, Object.assign({ attributionControl: false }, options || {},
                                             { zoomControl: false }));
    L.control.zoom({ zoomInTitle: document.body.dataset.zoomIn || "+",
                     zoomOutTitle: document.body.dataset.zoomOut || "−" }).addTo(made);
    const tiles = document.body.dataset.tileUrl;
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(made);
    return made;
  }

  // -- map helpers: classes, colours, legends, shapes, streets --------------------------

  // Status colours against targets (the indicator pages' words for them come with data).
  const STATUS = { met: "#1a9850", near: "#fdae61", failing: "#d73027", none: "#bdbdbd" };
  // Five sequential classes, light to dark (ColorBrewer YlGnBu 5).
  const SEQUENTIAL = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"];

  // Quantile class breaks: k − 1 upper bounds splitting the finite values into k groups
  // of about equal size (fewer when values repeat).
  function quantiles(values, k) {
    const sorted = values.filter((v) => v != null && Number.isFinite(v)).sort((a, b) => a - b);
    if (!sorted.length) return [];
    const breaks = [];
    for (let i = 1; i < k; i++) {
      const at = sorted[Math.min(sorted.length - 1, Math.floor((i * sorted.length) / k))];
      if (!breaks.length || at > breaks[breaks.length - 1]) breaks.push(at);
    }
    if (breaks.length && breaks[breaks.length - 1] >= sorted[sorted.length - 1]) breaks.pop();
    return breaks;
  }

  // The class of a value given breaks (0 … breaks.length), −1 when there is no value.
  function classOf(value, breaks) {
    if (value == null || !Number.isFinite(value)) return -1;
    let c = 0;
    while (c < breaks.length && value > breaks[c]) c++;
    return c;
  }

  // Colours of the classes: spread over the five so that two classes are light and dark.
  function classColours(count) {
    if (count <= 1) return [SEQUENTIAL[2]];
    return Array.from({ length: count },
                      (_, i) => SEQUENTIAL[Math.round((i * (SEQUENTIAL.length - 1)) / (count - 1))]);
  }

  // A classed scale for values: { breaks, colours, colour(v), items(format, noValue) }.
  function classed(values, k) {
    const breaks = quantiles(values, k || 5);
    const colours = classColours(breaks.length + 1);
    const finite = values.filter((v) => v != null && Number.isFinite(v));
    const low = finite.length ? Math.min(...finite) : 0;
    const high = finite.length ? Math.max(...finite) : 0;
    return {
      breaks: breaks, colours: colours,
      colour: (v) => { const c = classOf(v, breaks); return c < 0 ? STATUS.none : colours[c]; },
      // legend rows: "low – b1", "b1 – b2", … "bn – high"
      items: (format, noValue) => {
        const edges = [low, ...breaks, high];
        const rows = colours.map((colour, i) => ({
          colour: colour, label: `${format(edges[i])} – ${format(edges[i + 1])}` }));
        if (noValue && finite.length < values.length) rows.push({ colour: STATUS.none, label: noValue });
        return rows;
      },
    };
  }

  // A legend in the map's corner: a title and rows of (colour swatch, label), all text.
  function legend(target, title, items, position) {
    const control = L.control({ position: position || "bottomright" });
    control.onAdd = () => {
      const box = document.createElement("div");
      box.className = "map-legend";
      box.setAttribute("role", "group");
      box.setAttribute("aria-label", title);
      box.append(text("strong", title));
      for (const item of items) {
        const row = document.createElement("div");
        row.className = "map-legend-row";
        const swatch = document.createElement("span");
        swatch.className = item.circle ? "map-legend-swatch map-legend-circle" : "map-legend-swatch";
        swatch.style.background = item.colour;
        swatch.dataset.colour = item.colour;
        row.append(swatch, text("span", item.label));
        box.append(row);
      }
      return box;
    };
    control.addTo(target);
    return control;
  }

  // The children's shapes of a division, or null when the registry holds none of them.
  // GET /api/v1/divisions/{code}/children/boundaries (GeoJSON, ?scale=).
  function childShapes(code, lang, scale) {
    // The nation is no division of the registry: its provinces are drawn as points.
    if (!code || code === "000000000000" || code === "nation") return Promise.resolve(null);
    const query = new URLSearchParams({ scale: scale || "medium" });
    return fetch(`/api/v1/divisions/${encodeURIComponent(code)}/children/boundaries?${query}`,
                 { headers: { "Accept-Language": lang || "zh-CN" } })
      .then((r) => (r.ok ? r.json() : null), () => null)
      .then((body) => (body && body.features && body.features.length ? body : null));
  }

  // A choropleth of shapes: style(feature) gives the fill colour; tooltip(feature) the
  // lines; click(feature) what a click does.  The layer is marked for the tests.
  function choropleth(target, collection, fill, tooltip, click) {
    const layer = L.geoJSON(collection, {
      style: (feature) => ({ color: "#4b5563", weight: 1, fillColor: fill(feature),
                             fillOpacity: 0.75, className: "choropleth-shape" }),
      onEachFeature: (feature, shape) => {
        if (tooltip) shape.bindTooltip(() => lines(tooltip(feature)), { sticky: true });
        if (click) shape.on("click", () => click(feature));
      },
    }).addTo(target);
    // each shape names its division (for the tests and for styles)
    layer.eachLayer((shape) => {
      const element = shape.getElement && shape.getElement();
      if (element && shape.feature && shape.feature.properties.code) {
        element.dataset.code = shape.feature.properties.code;
      }
    });
    return layer;
  }

  // The street network of the registry drawn when zoomed in (from minZoom on), fetched
  // for the visible box from GET /api/v1/network/edges; hidden when zoomed out.
  function streets(target, minZoom) {
    const layer = L.layerGroup();
    let asked = 0;
    const refresh = () => {
      if (target.getZoom() < (minZoom || 14)) { layer.remove(); return; }
      const box = target.getBounds();
      const query = new URLSearchParams({ west: box.getWest(), south: box.getSouth(),
                                          east: box.getEast(), north: box.getNorth() });
      const mine = ++asked;
      fetch(`/api/v1/network/edges?${query}`).then((r) => (r.ok ? r.json() : null))
        .then((body) => {
          if (!body || mine !== asked) return;
          layer.clearLayers();
          L.geoJSON(body, { interactive: false,
                            style: { color: "#9ca3af", weight: 1.5, opacity: 0.9,
                                     className: "street-line" } }).addTo(layer);
          layer.addTo(target);
          target.getContainer().dataset.streets = String(body.properties.edges);
        }, () => {});
    };
    target.on("moveend", refresh);
    return layer;
  }

  // The maps' words in the page's language (templates/maps.html puts them on the page).
  function words() {
    const block = document.getElementById("map-words");
    return block ? JSON.parse(block.textContent) : {};
  }

  // "{tier} … {distance}" filled with values (the catalogs' placeholders).
  function fill(template, values) {
    return String(template).replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all));
  }

  window.Shequ = {
    words: words, fill: fill,
    text: text, lines: lines, busy: busy, map: map, STATUS: STATUS, SEQUENTIAL: SEQUENTIAL,
    quantiles: quantiles, classOf: classOf, classed: classed, legend: legend,
    childShapes: childShapes, choropleth: choropleth, streets: streets,
  };

  // Every form shows that it is being sent, and cannot be sent twice meanwhile.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || event.defaultPrevented) return;
    const button = form.querySelector("button[type=submit], button:not([type])");
    if (form.getAttribute("aria-busy") === "true") { event.preventDefault(); return; }
    form.setAttribute("aria-busy", "true");
    if (button) {
      window.setTimeout(() => {
        const note = text("span", document.body.dataset.busyLabel || "…", "busy-indicator");
        note.setAttribute("role", "status");
        button.after(note);
      }, 300);
    }
  });

  // <select data-autosubmit> sends its form when changed (instead of inline onchange=).
  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target instanceof HTMLSelectElement && target.dataset.autosubmit !== undefined && target.form) {
      target.form.submit();
    }
  });
})();
