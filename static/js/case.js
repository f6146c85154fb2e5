// The case page's small behaviours around htmx. The server renders everything; this only keeps
// what a reviewer typed or ticked when htmx swaps part of the page. No inline script: the Content
// Security Policy allows only files from our own origin.
(function () {
  "use strict";

  // A fact the service refused (400) or a stale page (409) answers with the line's checklist and
  // the reason: show it in place rather than dropping the answer as htmx does with errors.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var source = detail.requestConfig && detail.requestConfig.elt;
    if (!source || !source.closest || !source.closest("form.fact-record")) return;
    if (detail.xhr.status === 400 || detail.xhr.status === 409) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });

  // A new library search replaces the results: keep the versions already ticked (with the
  // criterion typed for them) by moving them to the chosen list first.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "citation-search-results") return;
    var chosen = document.getElementById("citation-chosen");
    if (!chosen) return;
    target.querySelectorAll(".citation-choice").forEach(function (choice) {
      var box = choice.querySelector("input[type=checkbox]");
      if (!box || !box.checked) return;
      if (chosen.querySelector("input[type=checkbox][value='" + box.value + "']")) return;
      chosen.appendChild(choice);
    });
  });

  // After a fact is recorded the case is one version further on: every form of the page follows
  // the version in the page's header, which the server moves only when the change was this
  // reviewer's own.
  document.addEventListener("htmx:afterSettle", function () {
    var marker = document.getElementById("case-row-version");
    var version = marker && marker.getAttribute("data-row-version");
    if (!version) return;
    document.querySelectorAll("input[name=row_version]").forEach(function (input) {
      input.value = version;
    });
  });

  // A link to an action (#pend, #note, #timeline ...) opens it.
  function openTarget() {
    if (!location.hash) return;
    var target = document.getElementById(location.hash.slice(1));
    if (target && target.tagName === "DETAILS") target.open = true;
  }
  window.addEventListener("hashchange", openTarget);
  document.addEventListener("DOMContentLoaded", openTarget);
})();
