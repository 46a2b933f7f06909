// Studio: the streamer's schedule (docs/api.md, "Scheduled streams"): schedule a stream,
// edit, cancel or restore, delete, and give it a cover image. The time zone defaults to
// the browser's; the start is the wall time in that zone, as the API reads it.
import { api, checkForm, clearFormErrors, el, showFormError, token } from "./api.js";
import { lasting, localStart, stateWord, streamerStart } from "./schedule.js";

const $ = (id) => document.getElementById(id);
const form = $("schedule-form");
const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
let editing = null; // the entry the form edits; null: the form schedules a new one

function fillZones() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  $("schedule-zones").replaceChildren(...zones.map((zone) => el("option", { value: zone })));
}

function resetForm() {
  editing = null;
  form.reset();
  clearFormErrors(form, $("schedule-error"));
  $("schedule-zone").value = browserZone;
  $("schedule-duration").value = "60";
  $("schedule-save").textContent = "Schedule stream";
  $("schedule-new").hidden = true;
}

function edit(entry) {
  editing = entry;
  clearFormErrors(form, $("schedule-error"));
  $("schedule-title").value = entry.title;
  $("schedule-description").value = entry.description;
  $("schedule-start").value = entry.start_local.slice(0, 16); // the wall time in its zone
  $("schedule-zone").value = entry.time_zone;
  $("schedule-duration").value = String(Math.round(entry.duration_s / 60));
  $("schedule-cover").value = "";
  $("schedule-save").textContent = "Save changes";
  $("schedule-new").hidden = false;
  $("schedule-title").focus();
}

async function uploadCover(entryId, file) {
  const field = $("schedule-cover");
  if (file.size > Number(field.dataset.maxBytes)) {
    // The server would refuse it too (413), but only after the whole photo was sent.
    throw new Error(`Cover image: at most ${field.dataset.maxText}, this one is ${(file.size / 1048576).toFixed(1)} MiB`);
  }
  const response = await fetch(`/api/schedule/${entryId}/cover`, {
    method: "PUT",
    headers: { Authorization: `Bearer ${token()}`, "Content-Type": file.type },
    body: file,
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error("Cover image: " + ((body.error && body.error.message) || response.statusText));
  }
}

async function save() {
  const body = {
    title: $("schedule-title").value.trim(),
    description: $("schedule-description").value,
    start: $("schedule-start").value,
    time_zone: $("schedule-zone").value.trim(),
    duration_s: Number($("schedule-duration").value) * 60,
  };
  const answer = editing
    ? await api(`/api/schedule/${editing.id}`, { method: "PATCH", body })
    : await api("/api/schedule", { method: "POST", body });
  const file = $("schedule-cover").files[0];
  if (file) await uploadCover(answer.entry.id, file);
  resetForm();
  await load();
}

async function act(action) {
  $("schedule-list-error").textContent = "";
  try {
    await action();
    await load();
  } catch (error) {
    $("schedule-list-error").textContent = error.message;
  }
}

function entryRow(entry) {
  const open = entry.state === "scheduled" || entry.state === "cancelled";
  const other = streamerStart(entry);
  return el(
    "li",
    { class: `schedule-item state-${entry.state}`, dataset: { entry: String(entry.id) } },
    el("time", { datetime: new Date(entry.starts_at * 1000).toISOString() }, localStart(entry), other ? ` (${other})` : ""),
    el("span", { class: "schedule-title" }, entry.title),
    el("span", { class: "muted" }, lasting(entry.duration_s)),
    el("span", { class: `badge schedule-state ${entry.state}` }, stateWord(entry.state)),
    el(
      "span",
      { class: "row" },
      open ? el("button", { class: "button subtle", type: "button", onclick: () => edit(entry) }, "Edit") : null,
      entry.state === "scheduled"
        ? el("button", { class: "button subtle", type: "button", onclick: () => act(() => api(`/api/schedule/${entry.id}`, { method: "PATCH", body: { cancelled: true } })) }, "Cancel")
        : null,
      entry.state === "cancelled"
        ? el("button", { class: "button subtle", type: "button", onclick: () => act(() => api(`/api/schedule/${entry.id}`, { method: "PATCH", body: { cancelled: false } })) }, "Restore")
        : null,
      el("button", { class: "button danger", type: "button", onclick: () => act(() => api(`/api/schedule/${entry.id}`, { method: "DELETE" })) }, "Delete"),
    ),
  );
}

async function load() {
  const { entries } = await api("/api/schedule");
  $("schedule-entries").replaceChildren(
    ...(entries.length ? entries.map(entryRow) : [el("li", { class: "muted" }, "Nothing scheduled yet.")]),
  );
}

if (form && token()) {
  fillZones();
  resetForm();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormErrors(form, $("schedule-error"));
    if (!checkForm(form)) return;
    try {
      await save();
    } catch (error) {
      showFormError(form, error, $("schedule-error"));
    }
  });
  $("schedule-new").addEventListener("click", resetForm);
  act(load);
}
