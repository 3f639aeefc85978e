// The request form: show only the questions of the chosen kind of request.
(function () {
  "use strict";
  const kind = document.getElementById("service-code");
  if (!kind) return;
  kind.addEventListener("change", () => {
    for (const box of document.querySelectorAll("fieldset.questions")) box.hidden = box.dataset.kind !== kind.value;
  });
})();
