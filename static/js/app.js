// Small behaviours that need no framework. No inline scripts anywhere: the CSP forbids them.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.requestSubmit();
});

// Plain (non-htmx) destructive forms ask first; htmx requests use hx-confirm instead.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) event.preventDefault();
});

// A form with a strategy choice shows only the chosen strategy's panel (the others keep their
// values and are still submitted; without script every panel shows).
function showChosenStrategy(root) {
  root.querySelectorAll("[data-strategy-select] select").forEach((select) => {
    const form = select.form;
    if (!form) return;
    form.querySelectorAll("[data-strategy-panel]").forEach((panel) => {
      panel.hidden = panel.dataset.strategyPanel !== select.value;
    });
  });
}
document.addEventListener("change", (event) => {
  if (event.target.closest("[data-strategy-select]")) showChosenStrategy(document);
});
document.addEventListener("DOMContentLoaded", () => showChosenStrategy(document));
