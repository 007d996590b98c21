// Gallery and image detail pages: selection for bulk actions, auto-applying filters, keyboard navigation,
// copy prompt, confirmations. Loaded only on those pages; no inline scripts (CSP).
(function () {
  "use strict";

  function isTyping(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function setUpGallery() {
    var bulk = document.getElementById("bulk-form");
    if (!bulk) return;
    var grid = document.getElementById("gallery-grid");
    var selectAll = document.getElementById("select-all");
    var counter = document.getElementById("selected-count");
    var lastClicked = null;

    function boxes() { return Array.prototype.slice.call(document.querySelectorAll(".tile-select")); }
    function refresh() {
      var all = boxes();
      var chosen = all.filter(function (b) { return b.checked; });
      counter.textContent = chosen.length;
      bulk.classList.toggle("has-selection", chosen.length > 0);
      if (grid) grid.classList.toggle("selecting", chosen.length > 0);
      selectAll.checked = all.length > 0 && chosen.length === all.length;
      selectAll.indeterminate = chosen.length > 0 && chosen.length < all.length;
      bulk.querySelectorAll("[data-needs-selection]").forEach(function (b) { b.disabled = chosen.length === 0; });
      all.forEach(function (b) { b.closest(".gallery-tile").classList.toggle("selected", b.checked); });
    }
    selectAll.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = selectAll.checked; });
      refresh();
    });
    document.addEventListener("click", function (event) {
      var box = event.target.closest && event.target.closest(".tile-select");
      if (!box) return;
      // Shift-click selects the range since the last click, as in a file manager.
      if (event.shiftKey && lastClicked) {
        var all = boxes(), a = all.indexOf(lastClicked), b = all.indexOf(box);
        all.slice(Math.min(a, b), Math.max(a, b) + 1).forEach(function (x) { x.checked = box.checked; });
      }
      lastClicked = box;
      refresh();
    });
    bulk.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-confirm]");
      if (button && !window.confirm(button.dataset.confirm)) event.preventDefault();
    });
    document.body.addEventListener("htmx:afterSwap", refresh);  // more tiles loaded by infinite scroll
    refresh();

    // Filters apply as soon as a choice changes; the search box applies on Enter.
    var filters = document.getElementById("filter-form");
    if (filters) {
      // Below lg the filters are a folding panel (#gallery-filters): one that was open when a choice applied the
      // filters opens again on the page that answers, so several choices in a row need no re-opening.
      var panel = document.getElementById("gallery-filters");
      var toggle = document.getElementById("filters-toggle");
      var KEY = "imagegen.galleryFiltersOpen";
      try {
        if (panel && toggle && sessionStorage.getItem(KEY)) {
          sessionStorage.removeItem(KEY);
          panel.classList.add("show");
          toggle.setAttribute("aria-expanded", "true");
        }
      } catch (e) { /* storage blocked: the panel starts closed */ }
      filters.addEventListener("submit", function () {
        // aria-expanded, not .show: Bootstrap adds .show only once the opening animation ends.
        try {
          if (toggle && toggle.offsetParent && toggle.getAttribute("aria-expanded") === "true") {
            sessionStorage.setItem(KEY, "1");
          }
        } catch (e) { /* storage blocked */ }
      });
      filters.addEventListener("change", function (event) {
        if (event.target.name !== "q") filters.requestSubmit();
      });
    }
  }

  function setUpDetail() {
    var detail = document.getElementById("image-detail");
    if (!detail) return;
    var modalEl = document.getElementById("reuse-modal");
    if (detail.dataset.openReuse && modalEl && window.bootstrap) {
      window.bootstrap.Modal.getOrCreateInstance(modalEl).show();  // the form came back with an error
    }
    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || isTyping(event.target)) return;
      // While a modal is open (or closing), Esc and the arrows belong to it. Bootstrap has already removed .show
      // by the time this document-level listener sees the Esc that closed it, hence modal-open and the target.
      if (document.body.classList.contains("modal-open") || (event.target.closest && event.target.closest(".modal"))) return;
      var url = null;
      if (event.key === "ArrowLeft") url = detail.dataset.previousUrl;
      else if (event.key === "ArrowRight") url = detail.dataset.nextUrl;
      else if (event.key === "Escape") url = detail.dataset.backUrl;
      else if (event.key === "f") {
        var fav = detail.querySelector(".detail-actions [data-favorite-toggle]");
        if (fav) { fav.click(); event.preventDefault(); }
        return;
      }
      if (url) {
        event.preventDefault();
        window.location.assign(url);
      }
    });
  }

  function setUpCopy() {
    document.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("[data-copy-target]");
      if (!button) return;
      var source = document.querySelector(button.dataset.copyTarget);
      if (!source || !navigator.clipboard) return;
      var label = button.innerHTML;
      var text = source.tagName === "INPUT" ? source.value : source.textContent;  // share links are inputs
      navigator.clipboard.writeText(text.trim()).then(function () {
        button.innerHTML = '<i class="bi bi-check2"></i> Copied';
        setTimeout(function () { button.innerHTML = label; }, 1500);
      }, function () {
        button.textContent = "Copy failed: select the prompt and copy it";
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpGallery();
    setUpDetail();
    setUpCopy();
  });
})();
