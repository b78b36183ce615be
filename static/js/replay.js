// The policy replay's progress bar: poll the run's small JSON document, move the bar, and swap in
// the finished panel (a fragment the server renders). No inline scripts: the CSP forbids them.
(() => {
  const POLL_MS = 1500;

  function poll(panel) {
    if (panel.dataset.polling) return;
    panel.dataset.polling = "1";
    const url = panel.dataset.replayProgress;
    const tick = () => {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
        .then((state) => {
          const bar = panel.querySelector("progress");
          const text = panel.querySelector(".replay-progress-text");
          if (bar) bar.value = state.progress;
          if (text) text.textContent = state.state === "queued" ? "Queued" : `Step ${state.steps_done} of ${state.steps_total}`;
          if (!state.finished) { setTimeout(tick, POLL_MS); return; }
          return fetch(state.panel, { credentials: "same-origin" })
            .then((response) => response.text())
            .then((html) => { panel.outerHTML = html; });
        })
        .catch(() => setTimeout(tick, POLL_MS * 4));
    };
    setTimeout(tick, POLL_MS);
  }

  function scan() {
    document.querySelectorAll("[data-replay-progress]").forEach(poll);
  }
  document.addEventListener("DOMContentLoaded", scan);
  document.addEventListener("htmx:afterSwap", scan);
})();
