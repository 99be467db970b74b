// The campaign form's message preview: asks the server to render the form's current values when they change.
"use strict";
(function () {
  const box = document.getElementById("campaign-preview");
  const template = document.getElementById("id_template");
  if (!box || !template) return; // a read-only page keeps the preview rendered with it
  // Beside the fields it previews: right after the first fieldset (without JavaScript it stays below the form).
  const fieldset = template.closest("fieldset");
  if (fieldset) fieldset.after(box);
  const names = ["template", "audience", "parameters", "header_parameters", "header_media_url"];
  const output = document.getElementById("campaign-preview-box");
  const error = document.getElementById("campaign-preview-error");
  let timer = null;
  let latest = 0;

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  async function refresh() {
    const query = new URLSearchParams();
    for (const name of names) {
      const input = document.getElementById("id_" + name);
      if (input) query.set(name, input.value);
    }
    if (!query.get("template")) {
      output.innerHTML = '<p class="wa-empty">Choose a template to see the message.</p>';
      showError("");
      return;
    }
    const request = ++latest;
    try {
      const response = await fetch(box.dataset.url + "?" + query, { headers: { Accept: "application/json" } });
      const data = await response.json();
      if (request !== latest) return; // a newer refresh is on its way
      if (response.ok) {
        output.innerHTML = data.html;
        showError("");
      } else {
        showError(data.error || "The preview could not be drawn.");
      }
    } catch (failure) {
      if (request === latest) showError("The preview could not be loaded.");
    }
  }

  function soon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 300);
  }

  for (const name of names) {
    const input = document.getElementById("id_" + name);
    if (input) {
      input.addEventListener("input", soon);
      input.addEventListener("change", soon);
    }
  }
  refresh();
})();
