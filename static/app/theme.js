// Colour theme: "auto" follows the system setting; "light" or "dark" is the person's choice, kept in
// localStorage. Loaded without `defer` in <head>, so the page is painted in the right theme from the start.
(function () {
  "use strict";
  var KEY = "imagegen-theme";
  var media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function stored() {
    try { return localStorage.getItem(KEY) || "auto"; } catch (e) { return "auto"; }
  }
  function effective(choice) {
    if (choice === "light" || choice === "dark") return choice;
    return media && media.matches ? "dark" : "light";
  }
  function apply(choice) {
    document.documentElement.setAttribute("data-bs-theme", effective(choice));
    document.documentElement.setAttribute("data-theme-choice", choice);
    document.querySelectorAll("[data-theme-value]").forEach(function (button) {
      var on = button.getAttribute("data-theme-value") === choice;
      button.classList.toggle("active", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
    var icon = document.getElementById("theme-icon");
    if (icon) icon.className = "bi " + (effective(choice) === "dark" ? "bi-moon-stars" : "bi-sun");
  }

  apply(stored());
  if (media && media.addEventListener) media.addEventListener("change", function () { apply(stored()); });

  document.addEventListener("DOMContentLoaded", function () {
    apply(stored());
    document.querySelectorAll("[data-theme-value]").forEach(function (button) {
      button.addEventListener("click", function () {
        var choice = button.getAttribute("data-theme-value");
        try { localStorage.setItem(KEY, choice); } catch (e) { /* private mode: this page only */ }
        apply(choice);
      });
    });
  });
})();
