// Ticks the work queue's countdowns and holds back its self-refresh while the user works in it. The server renders each countdown's text and risk class;
// this only keeps them current while the page stays open. No inline script: a Content Security
// Policy will allow only files from our own origin.
(function () {
  "use strict";
  var RISK_WINDOW_MS = 24 * 3600 * 1000;

  function span(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + " d " + h + " h";
    if (h) return h + " h " + m + " min";
    return m + " min";
  }

  function tick() {
    var now = Date.now();
    // Queried afresh each time, so rows swapped in by htmx are picked up without rebinding.
    document.querySelectorAll("time.countdown[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var left = due - now;
      var risk = left <= 0 ? "overdue" : left <= RISK_WINDOW_MS ? "soon" : "later";
      el.textContent = left <= 0 ? "overdue by " + span(left) : span(left) + " left";
      if (el.getAttribute("data-risk") !== risk) {
        el.classList.remove("overdue", "soon", "later");
        el.classList.add(risk);
        el.setAttribute("data-risk", risk);
        var row = el.closest("tr");
        if (row) {
          row.classList.remove("risk-overdue", "risk-soon", "risk-later");
          row.classList.add("risk-" + risk);
        }
      }
    });
  }

  setInterval(tick, 30000);

  // The table refreshes itself (its #queue-poll asks for its own address every few seconds). A
  // refresh that would replace the table while the user works in it (focus on a link, a menu, a
  // button; a claim or reassignment on its way) is held back: the next one brings the changes.
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || elt.id !== "queue-poll") return;
    var table = document.getElementById("queue-table");
    var active = document.activeElement;
    var busy = table && (table.querySelector(".htmx-request") || (active && active !== document.body && table.contains(active)));
    if (busy) event.preventDefault();
  });
})();
