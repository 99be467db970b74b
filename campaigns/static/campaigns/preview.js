// The campaign form: the template's placeholder fields and the message preview beside them.
// Changing the template fetches its placeholder fields from the server; any change redraws the preview.
"use strict";
(function () {
  const box = document.getElementById("campaign-preview");
  const template = document.getElementById("id_template");
  if (!box || !template) return; // a read-only page keeps the preview rendered with it
  const message = document.getElementById("campaign-message");
  // Beside the fields it previews: right after the first fieldset (without JavaScript it stays below the form).
  const fieldset = template.closest("fieldset");
  if (fieldset && message) fieldset.after(message);
  const placeholders = document.getElementById("campaign-placeholders");
  const slots = document.getElementById("campaign-placeholders-fields");
  const names = ["template", "audience", "header_media_url", "link_url"];
  const output = document.getElementById("campaign-preview-box");
  const error = document.getElementById("campaign-preview-error");
  // Messages come translated from the page (change_form.html), English where it gives none.
  let timer = null;
  let latest = 0;

  function showError(text) {
    error.textContent = text;
    error.hidden = !text;
  }

  function query() {
    const params = new URLSearchParams();
    for (const name of names) {
      const input = document.getElementById("id_" + name);
      if (input) params.set(name, input.value);
    }
    if (slots) {
      for (const input of slots.querySelectorAll("select, input")) params.set(input.name, input.value);
    }
    return params;
  }

  // With a contact field chosen the text is its default; with "Text" it is the value itself.
  function labelSlots() {
    if (!slots) return;
    for (const widget of slots.querySelectorAll(".slot-widget")) {
      const source = widget.querySelector("select");
      const text = widget.querySelector("input");
      text.placeholder = source.value ? "default if empty, e.g. there" : "the text, e.g. 20%";
    }
  }

  async function refresh() {
    const params = query();
    if (!params.get("template")) {
      output.innerHTML = '<p class="wa-empty">Choose a template to see the message.</p>';
      showError("");
      return;
    }
    const request = ++latest;
    try {
      const response = await fetch(box.dataset.url + "?" + params, { headers: { Accept: "application/json" } });
      const data = await response.json();
      if (request !== latest) return; // a newer refresh is on its way
      if (response.ok) {
        output.innerHTML = data.html;
        showError("");
      } else {
        showError(data.error || box.dataset.errorDrawn || "The preview could not be drawn.");
      }
    } catch (failure) {
      if (request === latest) showError(box.dataset.errorLoaded || "The preview could not be loaded.");
    }
  }

  let latestSlots = 0;

  async function redrawSlots() {
    if (!placeholders || !slots) return refresh();
    const request = ++latestSlots;
    try {
      const response = await fetch(placeholders.dataset.url + "?" + query(), { headers: { Accept: "application/json" } });
      const data = await response.json();
      if (request !== latestSlots) return; // the template or audience changed again: a newer answer is coming
      if (response.ok) {
        slots.innerHTML = data.html;
        labelSlots();
      }
    } catch (failure) {
      showError(box.dataset.errorSlots || "The template's placeholders could not be loaded; save to see them.");
    }
    refresh();
  }

  function soon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 300);
  }

  template.addEventListener("change", redrawSlots);
  const audience = document.getElementById("id_audience");
  if (audience) audience.addEventListener("change", redrawSlots); // its contacts' attribute keys
  const media = document.getElementById("id_header_media_url");
  if (media) media.addEventListener("input", soon);
  if (slots) {
    slots.addEventListener("input", soon);
    slots.addEventListener("change", () => { labelSlots(); soon(); });
  }
  labelSlots();
  refresh();
})();
