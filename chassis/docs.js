// Starts Swagger UI on docs.html. A file of its own, not a <script> inside the page: the page's
// Content-Security-Policy lets only scripts served from here run (explorer.py says why).
window.ui = SwaggerUIBundle({
  url: "openapi.json",  // relative to the page, like the files it loads
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  validatorUrl: null  // never ask the online validator: the page works offline
});
