// The audience builder: as the rules are edited, post the form to the preview endpoint and show the count and
// a sample before anything is saved.
"use strict";
(function () {
  const box = document.getElementById("audience-preview");
  if (!box) return;
  const form = box.closest("form");
  const body = document.getElementById("audience-preview-body");
  let timer = null;
  let sent = 0;

  async function refresh() {
    const number = ++sent;
    box.classList.add("loading");
    try {
      const response = await fetch(box.dataset.url, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (number !== sent) return; // a newer edit's answer is on its way
      if (response.ok) body.innerHTML = (await response.json()).html;
    } catch (error) {
      // The next edit tries again.
    } finally {
      if (number === sent) box.classList.remove("loading");
    }
  }

  function later(event) {
    if (event && event.target && event.target.name === "name") return; // the name changes no one's membership
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 400);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
