// Today and the campaign dashboard refresh themselves while something is running: every few seconds the page is
// fetched again and the element with data-refresh-url is swapped for its new version (no reload, no scroll jump).
// It stops when the new version says data-live="false" (nothing running), or when the tab is hidden.
"use strict";
(function () {
  const EVERY_MS = 10000;
  let timer = null;

  function target() {
    return document.querySelector("[data-refresh-url]");
  }

  async function refresh() {
    const current = target();
    if (!current || current.dataset.live !== "true") return;
    if (document.hidden) return schedule();
    try {
      const response = await fetch(current.dataset.refreshUrl, { headers: { "X-Requested-With": "refresh" } });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = current.id ? page.getElementById(current.id) : null;
        if (fresh) {
          current.replaceWith(document.importNode(fresh, true));
          document.dispatchEvent(new CustomEvent("campaigns:refreshed"));
        }
      }
    } catch (failure) {
      // A failed poll (server restarting) is retried at the next tick.
    }
    schedule();
  }

  function schedule() {
    window.clearTimeout(timer);
    const current = target();
    if (current && current.dataset.live === "true") timer = window.setTimeout(refresh, EVERY_MS);
  }

  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  schedule();
})();
