// The API reference page (/docs): Swagger UI over this server's /openapi.json, nothing else.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // no badge: it would ask validator.swagger.io about this document
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
