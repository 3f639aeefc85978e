// Swagger UI's initialiser for /docs: the OpenAPI document of this server, no validator
// badge (it would call a server on the internet), no inline script.
(function () {
  "use strict";
  const el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: el.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
