// Draws the dashboard's charts with Chart.js from the page's json_script blocks: the snapshot
// bars (#dashboard-charts: open cases, outcomes, workload) and the weekly trends
// (#dashboard-trends). No inline script: the Content-Security-Policy allows only our files.
// Without script the tables beside each chart carry the same figures.
(function () {
  "use strict";

  // One colour per line of business, distinguishable in print and for common colour blindness
  // (Okabe-Ito); the point shape differs too, so colour is never the only cue.
  var COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"];
  var SHAPES = ["circle", "rect", "triangle", "rectRot", "crossRot", "star"];
  // The bars' palette (the names the server gives); due-risk colours match the work queue's
  // countdowns.
  var PALETTE = {
    ok: "#2e7d32",
    warn: "#c98a00",
    bad: "#b3261e",
    open: "#1f5f9e",
    done: "#7fa7cf",
    "status-received": "#7fa7cf",
    "status-in_review": "#1f5f9e",
    "status-pended": "#c98a00",
    "status-physician_review": "#6a3d9a"
  };
  var BAR_ROW_PX = 26;

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

  function colourOf(name) {
    return PALETTE[name] || COLOURS[0];
  }

  function drawBars(canvas, spec) {
    var percent = spec.unit === "percent";
    var datasets = spec.series.map(function (series) {
      var colour = Array.isArray(series.colour) ? series.colour.map(colourOf) : colourOf(series.colour);
      return {
        label: series.name,
        data: series.values,
        counts: series.counts,
        backgroundColor: colour,
        borderColor: colour,
        borderWidth: 0
      };
    });
    // Room for every bar: the canvas's box grows with the categories and series it holds.
    var bars = spec.labels.length * (spec.stacked ? 1 : spec.series.length);
    canvas.parentNode.style.height = Math.max(140, bars * BAR_ROW_PX + 70) + "px";
    var scaleX = { beginAtZero: true, stacked: spec.stacked, ticks: { precision: 0 } };
    if (percent) {
      scaleX.max = 100;
      scaleX.ticks.callback = function (value) { return value + "%"; };
    }
    return new window.Chart(canvas, {
      type: "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { x: scaleX, y: { stacked: spec.stacked } },
        plugins: {
          // A single series is named by the chart's title; several need their legend.
          legend: { display: spec.series.length > 1, position: "bottom" },
          tooltip: {
            callbacks: {
              label: function (item) {
                var count = item.dataset.counts[item.dataIndex];
                var text = item.dataset.label + ": " + count + " " + spec.count_unit;
                return percent ? text + " (" + unitText("percent", item.raw) + ")" : text;
              }
            }
          }
        }
      }
    });
  }

  function drawAll(sourceId, attribute, drawer) {
    var source = document.getElementById(sourceId);
    if (!source) { return; }
    var specs = JSON.parse(source.textContent);
    document.querySelectorAll("canvas[" + attribute + "]").forEach(function (canvas) {
      var spec = specs[canvas.getAttribute(attribute)];
      if (spec) { drawer(canvas, spec); }
    });
  }

  function start() {
    if (!window.Chart) { return; }
    drawAll("dashboard-charts", "data-chart", drawBars);
    drawAll("dashboard-trends", "data-trend", draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
