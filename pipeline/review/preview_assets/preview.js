// Collects the editable state of the review view and posts it to /api/save.
// Every message is shown with textContent, never as HTML.
"use strict";

function collect() {
  const main = document.getElementById("main");
  const front = {};
  for (const el of document.querySelectorAll("[data-front]")) {
    const kind = el.dataset.kind;
    if (kind === "bool") front[el.dataset.front] = el.checked;
    else if (kind === "list") front[el.dataset.front] = el.value.split("\n");
    else front[el.dataset.front] = el.value;
  }
  const speakers = {};
  for (const el of document.querySelectorAll("[data-speaker]")) {
    speakers[el.dataset.speaker] = el.value;
  }
  const headings = Array.from(document.querySelectorAll("[data-heading]"), (el) => el.value);
  const translations = Array.from(document.querySelectorAll("textarea[data-turn]"), (el) => el.value);
  return { base_sha256: main.dataset.sha256, front, speakers, headings, translations };
}

function showRefusal(data) {
  const status = document.getElementById("status");
  status.className = "refused";
  status.textContent = "Not saved: " + (data.reason || "the server refused the edit");
  const list = document.getElementById("problems");
  list.replaceChildren();
  for (const problem of data.problems || []) {
    const li = document.createElement("li");
    li.textContent = problem;
    list.appendChild(li);
  }
}

async function save() {
  const status = document.getElementById("status");
  status.className = "";
  status.textContent = "Saving…";
  document.getElementById("problems").replaceChildren();
  let response, data;
  try {
    response = await fetch("/api/save", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(collect()),
    });
    data = await response.json();
  } catch (error) {
    showRefusal({ reason: "the preview server did not answer (" + error + ")" });
    return;
  }
  if (response.ok && data.ok) {
    window.location.assign("/?saved=1");
  } else if (Array.isArray(data.detail)) {
    showRefusal({ reason: "the page sent a malformed request", problems: data.detail.map((d) => d.msg) });
  } else {
    showRefusal(data);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  // "Saved." shows once; a later reload of the page must not claim it again.
  if (window.location.search) window.history.replaceState(null, "", "/");
  const button = document.getElementById("save");
  if (button) button.addEventListener("click", save);
});
