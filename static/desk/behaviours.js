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
