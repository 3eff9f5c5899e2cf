// Starts Swagger UI on the gateway's merged document. A file, not an inline script, so
// the docs pages run under a Content-Security-Policy with script-src 'self' only.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
});
