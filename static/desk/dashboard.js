// Draws each dashboard panel's chart from the JSON the server rendered (no data requests).
(function () {
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const colours = ["#2255cc", "#d9822b", "#2e9e5b", "#c23b3b", "#7a4fc2"];
  document.querySelectorAll("canvas[data-panel]").forEach(function (canvas) {
    const panel = data[canvas.dataset.panel];
    if (!panel || typeof Chart === "undefined") return;
    canvas.chart = new Chart(canvas, {
      type: panel.kind,
      data: {
        labels: panel.labels,
        datasets: panel.series.map(function (series, i) {
          return {
            label: series.label,
            data: series.data,
            borderColor: colours[i % colours.length],
            backgroundColor: colours[i % colours.length] + (panel.kind === "line" ? "33" : "cc"),
            spanGaps: true,
            tension: 0.2,
          };
        }),
      },
      options: {
        responsive: true,
        animation: false,
        scales: panel.stacked ? { x: { stacked: true }, y: { stacked: true } } : undefined,
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              // a money series keeps its original currency: shown under the converted figure
              footer: function (items) {
                return items
                  .map(function (item) {
                    const original = panel.series[item.datasetIndex].original;
                    return original ? original[item.dataIndex] : "";
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
