// Draws the dashboard's weekly trend charts with Chart.js from the page's json_script block
// (#dashboard-trends). No inline script: the Content-Security-Policy allows only our files.
// Without script the tables beside each chart carry the same figures.
(function () {
  "use strict";

  // One colour per line of business, distinguishable in print and for common colour blindness
  // (Okabe-Ito); the point shape differs too, so colour is never the only cue.
  var COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"];
  var SHAPES = ["circle", "rect", "triangle", "rectRot", "crossRot", "star"];

  function unitText(unit, value) {
    if (value === null || value === undefined) { return "no figure"; }
    if (unit === "percent") { return value + "%"; }
    if (unit === "hours") { return value + " h"; }
    return String(value);
  }

  function draw(canvas, spec) {
    var datasets = spec.series.map(function (series, i) {
      return {
        label: series.name,
        data: series.values,
        borderColor: COLOURS[i % COLOURS.length],
        backgroundColor: COLOURS[i % COLOURS.length],
        pointStyle: SHAPES[i % SHAPES.length],
        pointRadius: 3,
        borderWidth: 2,
        spanGaps: false,
        tension: 0
      };
    });
    var scaleY = { beginAtZero: true, ticks: { precision: 0 } };
    if (spec.unit === "percent") { scaleY.max = 100; }
    return new window.Chart(canvas, {
      type: "line",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          y: scaleY,
          x: { ticks: { autoSkip: true, maxRotation: 0 } }
        },
        plugins: {
          legend: { position: "bottom", labels: { usePointStyle: true } },
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.dataset.label + ": " + unitText(spec.unit, item.raw);
              }
            }
          }
        }
      }
    });
  }

  function start() {
    var source = document.getElementById("dashboard-trends");
    if (!source || !window.Chart) { return; }
    var specs = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[data-trend]").forEach(function (canvas) {
      var spec = specs[canvas.getAttribute("data-trend")];
      if (spec) { draw(canvas, spec); }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
