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

  window.Shequ = { text: text, lines: lines };

  // <select data-autosubmit> sends its form when changed (instead of inline onchange=).
  document.addEventListener("change", (event) => {
    const target = event.target;
    if (target instanceof HTMLSelectElement && target.dataset.autosubmit !== undefined && target.form) {
      target.form.submit();
    }
  });
})();
