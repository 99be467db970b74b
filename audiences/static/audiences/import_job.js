// An import job's page: ask the server every second, move the bar, and reload the page once the job has finished
// (the server then renders the preview or the outcome).
"use strict";
(function () {
  const box = document.getElementById("import-job");
  if (!box || box.dataset.finished === "true") return;
  const bar = box.querySelector("progress");
  const message = box.querySelector(".job-message");

  async function poll() {
    try {
      const response = await fetch(box.dataset.url, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const job = await response.json();
        if (job.finished) {
          window.location.reload();
          return;
        }
        if (job.percent === null) bar.removeAttribute("value");
        else bar.value = job.percent;
        message.textContent = job.message;
      }
    } catch (error) {
      // A dropped request is retried on the next tick.
    }
    window.setTimeout(poll, 1000);
  }

  window.setTimeout(poll, 1000);
})();
