// Keyboard shortcuts for the desk: "/" jumps to the global search, Esc leaves a field.
document.addEventListener("keydown", function (event) {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
  if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey) {
    const search = document.querySelector("form.search input[type=search]");
    if (search) { event.preventDefault(); search.focus(); search.select(); }
  } else if (event.key === "Escape" && typing) {
    document.activeElement.blur();
  }
});
