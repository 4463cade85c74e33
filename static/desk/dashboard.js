// Draws each dashboard panel's chart from the JSON the server rendered (no data requests). One
// unit per chart: its y axis is titled with it, percent axes run 0–100. Partial days (figures not
// final) are drawn lighter (bars) or dashed (lines); the page says so under the chart.
(function () {
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const colours = ["#2255cc", "#d9822b", "#2e9e5b", "#c23b3b", "#7a4fc2"];
  const partialText = (document.querySelector(".panels") || document.body).dataset.partialText || "";

  function yAxis(panel) {
    const axis = panel.axis || {};
    const y = { beginAtZero: true, stacked: panel.stacked, title: { display: !!axis.title, text: axis.title } };
    if (axis.min !== undefined) y.min = axis.min;
    if (axis.max !== undefined) y.max = axis.max;
    if (axis.integer) y.ticks = { precision: 0 };
    if (axis.percent) y.ticks = { callback: (value) => value + " %" };
    return y;
  }

  function isPartial(panel, index) {
    return !!(panel.partial && panel.partial[index]);
  }

  document.querySelectorAll("canvas[data-panel]").forEach(function (canvas) {
    const panel = data[canvas.dataset.panel];
    if (!panel || typeof Chart === "undefined") return;
    canvas.chart = new Chart(canvas, {
      type: panel.kind,
      data: {
        labels: panel.labels,
        datasets: panel.series.map(function (series, i) {
          const colour = colours[i % colours.length];
          return {
            label: series.label,
            data: series.data,
            borderColor: colour,
            backgroundColor:
              panel.kind === "bar"
                ? panel.labels.map((_label, day) => colour + (isPartial(panel, day) ? "55" : "cc"))
                : colour + "33",
            segment: {
              // a segment that reaches a partial day is dashed
              borderDash: (ctx) => (isPartial(panel, ctx.p1DataIndex) ? [6, 4] : undefined),
            },
            pointStyle: panel.kind === "line" ? panel.labels.map((_l, day) => (isPartial(panel, day) ? "rectRot" : "circle")) : undefined,
            spanGaps: false,
            tension: 0.2,
          };
        }),
      },
      options: {
        responsive: true,
        animation: false,
        scales: { x: { stacked: panel.stacked }, y: yAxis(panel) },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              // a money series keeps its original currencies: shown under the converted figure
              footer: function (items) {
                return items
                  .map(function (item) {
                    const original = panel.series[item.datasetIndex].original;
                    const partial = isPartial(panel, item.dataIndex) ? partialText : "";
                    return [original ? original[item.dataIndex] : "", partial].filter(Boolean).join("\n");
                  })
                  .filter(Boolean)
                  .join("\n");
              },
            },
          },
        },
      },
    });
  });
  document.body.dataset.chartsReady = "true";
})();
