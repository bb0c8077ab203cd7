// Swagger UI on the API reference page (an external file: the CSP allows no inline script).
window.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var target = document.getElementById("swagger-ui");
  if (!target || !window.SwaggerUIBundle) { return; }
  window.SwaggerUIBundle({ url: target.getAttribute("data-url"), dom_id: "#swagger-ui", deepLinking: false,
                           tryItOutEnabled: false, persistAuthorization: false });
});
