// The preview page's script: saves the editable state (/api/save), plays the episode turn
// by turn, and sends one-turn fixes (/api/edit, /api/reask). Every message is shown with
// textContent, never as HTML.
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

// Every change names the version it was based on: If-Match with the draft's sha256.
function versionHeaders() {
  const main = document.getElementById("main");
  return { "Content-Type": "application/json", "If-Match": '"' + main.dataset.sha256 + '"' };
}

function showConflict(conflict) {
  // A save from an older version: show where yours and the saved one differ, to choose.
  const panel = document.getElementById("conflict");
  const columns = { yours: document.getElementById("conflict-yours"),
                    saved: document.getElementById("conflict-saved") };
  for (const side of ["yours", "saved"]) {
    columns[side].replaceChildren();
    for (const hunk of conflict.hunks || []) {
      const pre = document.createElement("pre");
      pre.textContent = hunk[side].join("\n");
      columns[side].appendChild(pre);
    }
  }
  panel.dataset.sha256 = conflict.sha256;
  panel.hidden = false;
}

function changedOnly() {
  // What this page changed since it loaded: applied to a newer version of the draft (after
  // a 409, "save mine"), the other editor's changes elsewhere stay.
  const loaded = JSON.parse(loadedState);
  const now = collect();
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const front = {};
  for (const key of Object.keys(now.front)) {
    if (!same(now.front[key], loaded.front[key])) front[key] = now.front[key];
  }
  const speakers = {};
  for (const name of Object.keys(now.speakers)) {
    if (now.speakers[name] !== loaded.speakers[name]) speakers[name] = now.speakers[name];
  }
  return {
    base_sha256: now.base_sha256,
    front,
    speakers,
    headings: same(now.headings, loaded.headings) ? [] : now.headings,
    translations: now.translations.map((text, i) => (text === loaded.translations[i] ? null : text)),
  };
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
      headers: versionHeaders(),
      body: JSON.stringify(changedOnly()),
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
    if (response.status === 409 && data.conflict) showConflict(data.conflict);
  }
}

function keepMine() {
  // The editor chose their own version: save it over the version now on disk.
  const panel = document.getElementById("conflict");
  document.getElementById("main").dataset.sha256 = panel.dataset.sha256;
  panel.hidden = true;
  save();
}

document.addEventListener("DOMContentLoaded", () => {
  // "Saved." shows once; a later reload of the page must not claim it again.
  if (window.location.search) window.history.replaceState(null, "", "/");
  const button = document.getElementById("save");
  if (button) button.addEventListener("click", save);
  const mine = document.getElementById("keep-mine");
  if (mine) mine.addEventListener("click", keepMine);
  const saved = document.getElementById("keep-saved");
  if (saved) saved.addEventListener("click", () => window.location.assign("/"));
});

// --- listening: the episode's audio, turn by turn ---------------------------------------

function timedTurns() {
  return Array.from(document.querySelectorAll(".turn[data-start]"));
}

let currentTurn = null;

function markCurrent(turn) {
  if (turn === currentTurn) return;
  if (currentTurn) currentTurn.classList.remove("current");
  currentTurn = turn;
  if (turn) {
    turn.classList.add("current");
    turn.scrollIntoView({ block: "nearest" });
  }
}

function seekTo(turn, play) {
  const audio = document.getElementById("audio");
  if (!audio || !turn) return;
  audio.currentTime = parseFloat(turn.dataset.start);
  markCurrent(turn);
  if (play) audio.play().catch(() => {});
}

function turnAt(seconds) {
  let found = null;
  for (const turn of timedTurns()) {
    if (parseFloat(turn.dataset.start) <= seconds + 0.05) found = turn;
  }
  return found;
}

function step(offset) {
  const audio = document.getElementById("audio");
  const turns = timedTurns();
  if (!turns.length) return;
  const index = currentTurn ? turns.indexOf(currentTurn) : -1;
  const next = turns[Math.min(turns.length - 1, Math.max(0, index + offset))];
  seekTo(next, !audio.paused);
}

function onKey(event) {
  const target = event.target;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (target.closest("input, textarea, select, [contenteditable]")) return;
  const audio = document.getElementById("audio");
  if (!audio) return;
  const actions = {
    n: () => step(1),
    p: () => step(-1),
    k: () => (audio.paused ? audio.play().catch(() => {}) : audio.pause()),
    r: () => seekTo(currentTurn || turnAt(audio.currentTime) || timedTurns()[0], true),
  };
  const action = actions[event.key];
  if (action) {
    event.preventDefault();
    action();
  }
}

function setUpAudio() {
  const audio = document.getElementById("audio");
  if (!audio) return;
  for (const button of document.querySelectorAll("button[data-seek]")) {
    button.addEventListener("click", () => seekTo(button.closest(".turn"), true));
  }
  audio.addEventListener("timeupdate", () => {
    const turn = turnAt(audio.currentTime);
    if (turn) markCurrent(turn);
  });
  document.addEventListener("keydown", onKey);
}

// --- fixing a turn: speaker, split, merge, ask again -------------------------------------

let loadedState = "";

function setStatus(text, className) {
  const status = document.getElementById("status");
  status.className = className || "";
  status.textContent = text;
}

async function postJSON(url, body) {
  let response, data;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: versionHeaders(),
      body: JSON.stringify(body),
    });
    data = await response.json();
  } catch (error) {
    return { ok: false, data: { reason: "the preview server did not answer (" + error + ")" } };
  }
  if (Array.isArray(data.detail)) {
    data = { reason: "the page sent a malformed request", problems: data.detail.map((d) => d.msg) };
  }
  return { ok: response.ok && data.ok, data };
}

async function editTurn(body) {
  if (JSON.stringify(collect()) !== loadedState) {
    showRefusal({ reason: "save or reload the page first: it has unsaved edits" });
    return;
  }
  setStatus("Saving…");
  document.getElementById("problems").replaceChildren();
  const main = document.getElementById("main");
  const result = await postJSON("/api/edit", { base_sha256: main.dataset.sha256, ...body });
  if (result.ok) window.location.assign("/?saved=1");
  else showRefusal(result.data);
}

function onFix(event) {
  const button = event.target.closest("button[data-op]");
  if (!button) return;
  const fix = button.closest(".fix");
  const turn = parseInt(fix.dataset.fix, 10);
  const op = button.dataset.op;
  if (op === "speaker") {
    editTurn({ op, turn, speaker: fix.querySelector(".fix-speaker").value });
  } else if (op === "merge") {
    editTurn({ op, turn });
  } else if (op === "split") {
    const cut = fix.querySelector(".split-translation").value;
    editTurn({
      op,
      turn,
      at: parseInt(fix.querySelector(".split-at").value, 10),
      speaker: fix.querySelector(".split-speaker").value,
      translation_at: cut ? cut.split(",").map((n) => parseInt(n, 10)) : null,
    });
  }
}

async function onReask(event) {
  const button = event.target.closest("button[data-reask]");
  if (!button) return;
  const fix = button.closest(".fix");
  const proposal = fix.querySelector(".proposal");
  const main = document.getElementById("main");
  setStatus("Asking the LLM…");
  button.disabled = true;
  const result = await postJSON("/api/reask", {
    base_sha256: main.dataset.sha256,
    turn: parseInt(button.dataset.reask, 10),
    note: fix.querySelector(".reask-note").value,
  });
  button.disabled = false;
  if (!result.ok) {
    const data = result.data;
    showRefusal({ reason: data.reason || "no new translation", problems: data.problems });
    return;
  }
  setStatus("A new translation is shown under turn " + button.dataset.reask + ".", "ok");
  proposal.querySelector(".proposal-text").textContent = result.data.paragraphs.join("\n");
  proposal.dataset.paragraphs = JSON.stringify(result.data.paragraphs);
  proposal.hidden = false;
}

function onProposal(event) {
  const proposal = event.target.closest(".proposal");
  if (!proposal) return;
  const turn = parseInt(proposal.closest(".fix").dataset.fix, 10);
  if (event.target.closest(".accept")) {
    editTurn({ op: "translation", turn, paragraphs: JSON.parse(proposal.dataset.paragraphs) });
  } else if (event.target.closest(".discard")) {
    proposal.hidden = true;
    proposal.querySelector(".proposal-text").textContent = "";
    setStatus("");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setUpAudio();
  if (!document.getElementById("main")) return;
  loadedState = JSON.stringify(collect());
  for (const fix of document.querySelectorAll(".fix")) {
    fix.addEventListener("click", (event) => {
      onFix(event);
      onReask(event);
      onProposal(event);
    });
  }
});
