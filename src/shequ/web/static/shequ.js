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
  function map(element, options) {
    const made = L.map(element, Object.assign({ attributionControl: false }, options || {},
                                             { zoomControl: false }));
    L.control.zoom({ zoomInTitle: document.body.dataset.zoomIn || "+",
                     zoomOutTitle: document.body.dataset.zoomOut || "−" }).addTo(made);
    return made;
  }

  window.Shequ = { text: text, lines: lines, busy: busy, map: map };

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
