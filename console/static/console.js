// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Buttons that ask before an irreversible action (the form still posts without JavaScript).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  // "Select all" for lists with checkboxes.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches && box.matches("input[data-select-all]")) {
      var name = box.getAttribute("data-select-all");
      document.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (other) {
        other.checked = box.checked;
      });
    }
  });
  // "Copy" next to a read-only value (single sign-on's TXT record): shown only with JavaScript.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var field = document.getElementById(button.getAttribute("data-copy"));
      field.select();
      if (navigator.clipboard) { navigator.clipboard.writeText(field.value); }
      button.firstChild.textContent = "Copied";
    });
  });
  // htmx sends the CSRF token of the page with every request it makes.
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { event.detail.headers["X-CSRF-Token"] = meta.getAttribute("content"); }
  });
})();
