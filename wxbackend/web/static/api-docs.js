// /api/docs: Swagger UI over our own OpenAPI document (the bundle is swagger-ui-dist, served from var/vendor).
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    persistAuthorization: false,
    validatorUrl: null, // never send our document to an outside validator
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
})();
