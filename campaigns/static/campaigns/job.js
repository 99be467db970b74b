// The job's progress page: ask the server every second, move the bar, say what happened.
"use strict";
(function () {
  const box = document.getElementById("campaign-job");
  if (!box || box.dataset.finished === "true") return;
  const bar = box.querySelector("progress");
  const message = box.querySelector(".job-message");
  const state = box.querySelector(".job-state");

  function show(job) {
    if (job.percent === null) bar.removeAttribute("value");
    else bar.value = job.percent;
    bar.textContent = (job.percent === null ? "…" : job.percent) + "%";
    message.textContent = job.message;
    state.textContent = job.state;
    if (job.finished) {
      message.classList.add(job.ok ? "success" : "errornote");
      box.querySelector(".job-reload").hidden = true;
      box.dataset.finished = "true";
    }
    return job.finished;
  }

  async function poll() {
    try {
      const response = await fetch(box.dataset.url, { headers: { Accept: "application/json" } });
      if (response.ok && show(await response.json())) return;
    } catch (error) {
      // A dropped request is retried on the next tick.
    }
    window.setTimeout(poll, 1000);
  }

  window.setTimeout(poll, 1000);
})();
