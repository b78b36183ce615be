// Draws the dashboard's Chart.js charts. Each <canvas data-chart="{...}"> carries its data as JSON in
// the attribute (the CSP allows no inline script); charts swapped in by htmx are drawn again.
(function () {
  "use strict";
  const palette = {
    on_demand: "#3b5bdb", spot: "#15aabf", serverless: "#ae3ec9", unpriced: "#adb5bd",
    actual: "#3b5bdb", static: "#e8590c", ondemandonly: "#868e96", serverlessonly: "#d6336c",
    cpu: "#3b5bdb", cpuused: "#91a7ff", memory: "#2b8a3e", memoryused: "#8ce99a",
  };
  const colour = (name) => palette[name] || "#495057";

  function formatter(format) {
    if (format === "money") {
      return (value) => (value == null ? "—" : "$" + Number(value).toLocaleString("en-US", {
        minimumFractionDigits: 2, maximumFractionDigits: 2,
      }));
    }
    if (format === "percent") return (value) => (value == null ? "—" : Number(value).toFixed(1) + " %");
    return (value) => (value == null ? "—" : Number(value).toLocaleString("en-US"));
  }

  function doughnut(spec, format) {
    const dataset = spec.datasets[0];
    return {
      type: "doughnut",
      data: {
        labels: spec.labels,
        datasets: [{ label: dataset.label, data: dataset.data, backgroundColor: dataset.colors.map(colour) }],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {
          // The table beside the doughnut names each slice with its swatch, count and share; a
          // legend squeezed into the panel only repeated it, cut short.
          legend: { display: false },
          tooltip: { callbacks: { label: (ctx) => `${ctx.label}: ${format(ctx.parsed)}` } },
        },
      },
    };
  }

  function config(spec) {
    const format = formatter(spec.format);
    if (spec.kind === "doughnut") return doughnut(spec, format);
    const valueAxis = spec.horizontal ? "x" : "y";
    const datasets = spec.datasets.map((dataset) => ({
      label: dataset.label,
      data: dataset.data,
      type: dataset.type,
      // Lines are baselines or shares: each stacks alone, never on the bars.
      stack: dataset.stack || dataset.label,
      backgroundColor: colour(dataset.color),
      borderColor: colour(dataset.color),
      borderWidth: dataset.type === "line" ? 2 : 0,
      borderDash: dataset.color === "ondemandonly" ? [6, 4] : [],
      pointRadius: dataset.type === "line" ? (spec.labels.length > 40 ? 0 : 2) : 0,
      fill: false,
      tension: 0.2,
      spanGaps: true,
      order: dataset.type === "line" ? 0 : 1,
    }));
    const valueScale = {
      beginAtZero: true,
      stacked: Boolean(spec.stacked),
      ticks: { callback: (value) => format(value) },
    };
    const categoryScale = { stacked: Boolean(spec.stacked), ticks: { autoSkip: true, maxRotation: 0 } };
    return {
      type: spec.kind,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        indexAxis: spec.horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${format(ctx.parsed[valueAxis])}` } },
        },
        scales: spec.horizontal ? { x: valueScale, y: categoryScale } : { x: categoryScale, y: valueScale },
      },
    };
  }

  function draw(root) {
    if (!window.Chart) return;
    root.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const existing = window.Chart.getChart(canvas);
      if (existing) existing.destroy();
      new window.Chart(canvas, config(JSON.parse(canvas.dataset.chart)));
      canvas.dataset.drawn = "true";
    });
  }

  document.addEventListener("DOMContentLoaded", () => draw(document));
  document.addEventListener("htmx:afterSettle", (event) => draw(event.detail.elt || document));
})();
