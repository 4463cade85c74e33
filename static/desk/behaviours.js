// Page behaviours declared in the markup, because the Content-Security-Policy allows no inline
// script or event attribute: data-submit-on-change submits its form when changed, data-confirm
// asks before the click goes ahead, data-print prints the page, data-select-on-focus selects
// the field's text.
document.addEventListener("change", function (event) {
  const field = event.target.closest("[data-submit-on-change]");
  if (field && field.form) { field.form.submit(); }
});
document.addEventListener("click", function (event) {
  const asking = event.target.closest("[data-confirm]");
  if (asking && !window.confirm(asking.dataset.confirm)) { event.preventDefault(); return; }
  if (event.target.closest("[data-print]")) { window.print(); }
});
document.addEventListener("focusin", function (event) {
  if (event.target.matches("[data-select-on-focus]")) { event.target.select(); }
});
// data-sku-search="<url>" on an input with a datalist: typing fills the list with the SKUs whose
// code starts with (or name contains) what was typed, from the URL's JSON {"results": [{code, name}]}.
(function () {
  let timer = null;
  document.addEventListener("input", function (event) {
    const field = event.target.closest("[data-sku-search]");
    if (!field || !field.list) { return; }
    const query = field.value.trim();
    clearTimeout(timer);
    if (!query) { return; }
    timer = setTimeout(function () {
      fetch(field.dataset.skuSearch + "?q=" + encodeURIComponent(query), {
        credentials: "same-origin",
        headers: { "Accept": "application/json" },
      })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) {
          field.list.replaceChildren.apply(field.list, data.results.map(function (sku) {
            const option = document.createElement("option");
            option.value = sku.code;
            option.textContent = sku.code + " " + sku.name;
            return option;
          }));
        })
        .catch(function () { /* the box still takes a typed code */ });
    }, 200);
  });
})();
// data-select-all="<name>" on a checkbox ticks or clears every checkbox of that name in its form.
document.addEventListener("change", function (event) {
  const all = event.target.closest("[data-select-all]");
  if (!all || !all.form) { return; }
  all.form.querySelectorAll("input[type=checkbox]").forEach(function (box) {
    if (box.name === all.dataset.selectAll) { box.checked = all.checked; }
  });
});
