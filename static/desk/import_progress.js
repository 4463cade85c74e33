// A statement import being checked or imported: follow its progress, then show the result.
(function () {
  const box = document.getElementById("import-progress");
  if (!box) { return; }
  const bar = box.querySelector("progress");
  function poll() {
    fetch(box.dataset.url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (p) {
      bar.value = p.percent; bar.textContent = p.percent + "%";
      document.getElementById("import-processed").textContent = p.processed;
      document.getElementById("import-total").textContent = p.total;
      document.getElementById("import-state").textContent = p.label;
      if (p.running) { setTimeout(poll, 1000); } else { window.location.reload(); }
    }).catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 1000);
})();
