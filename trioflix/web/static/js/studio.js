// Studio: stream keys and the OBS settings to paste, start/stop with a title, the live
// ingest's health, and the channel's videos with their processing state.
import { api, currentUser, el, formatBytes, formatDuration, requireLogin, timeAgo } from "./api.js";
import { processingText } from "./processing_state.js";

const STATUS_POLL_MS = 2000;
const VIDEOS_POLL_MS = 5000;

const $ = (id) => document.getElementById(id);
let lastStatus = null;

// --- copy buttons -----------------------------------------------------------------------

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on another host: no async clipboard API, use a selection instead.
  const area = el("textarea", { class: "offscreen", readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const source = $(button.dataset.copy);
  const text = source ? source.value : button.dataset.text;
  if (!text) return;
  try {
    await copyText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => {
    button.textContent = "Copy";
  }, 1500);
});

// --- stream status ---------------------------------------------------------------------

function showStatus(status) {
  lastStatus = status;
  const badge = $("live-state");
  badge.textContent = status.state;
  badge.dataset.state = status.state;
  $("watch-link").href = "/channel/" + status.channel;
  if (status.publish && status.publish.server) $("obs-server").value = status.publish.server;
  $("stream-stop").disabled = status.state === "offline";
  const session = status.session;
  const form = $("stream-form");
  if (session && !form.contains(document.activeElement) && !form.dataset.dirty) {
    $("stream-title").value = session.title || "";
    $("stream-description").value = session.description || "";
  }
  const ingest = status.ingest;
  const dash = "–";
  $("h-bitrate").textContent = ingest ? `${Math.round(ingest.bitrate_kbps)} kb/s` : dash;
  $("h-fps").textContent = ingest && ingest.fps ? `${ingest.fps.toFixed(1)} fps` : dash;
  $("h-resolution").textContent = ingest && ingest.width ? `${ingest.width}×${ingest.height}` : dash;
  $("h-codecs").textContent = ingest ? [ingest.video_codec, ingest.audio_codec].filter(Boolean).join(", ") : dash;
  // What the server can see: frames it could not use, packets slow viewers skipped, and
  // timestamp jumps. Frames the encoder drops itself never arrive (OBS shows those).
  $("h-dropped").textContent = ingest ? String(ingest.dropped_frames) : dash;
  $("h-skipped").textContent = ingest ? `${ingest.viewer_skipped_packets} packets` : dash;
  $("h-discontinuities").textContent = ingest ? String(ingest.timestamp_discontinuities) : dash;
  const viewers = status.viewers || { total: 0 };
  const parts = Object.entries(viewers)
    .filter(([name, count]) => name !== "total" && count)
    .map(([name, count]) => `${name} ${count}`);
  $("h-viewers").textContent = `${viewers.total}${parts.length ? " (" + parts.join(", ") + ")" : ""}`;
  $("h-uptime").textContent = status.state === "live" ? formatDuration(status.uptime_s) : dash;
  $("h-bytes").textContent = ingest ? formatBytes(ingest.bytes_in) : dash;
}

async function pollStatus() {
  try {
    showStatus(await api("/api/streaming/status"));
  } catch (error) {
    $("stream-error").textContent = error.message;
  }
  setTimeout(pollStatus, STATUS_POLL_MS);
}

$("stream-form").addEventListener("input", () => {
  $("stream-form").dataset.dirty = "1";
});

$("stream-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("stream-error").textContent = "";
  try {
    const status = await api("/api/streaming/start", {
      method: "POST",
      body: { title: $("stream-title").value, description: $("stream-description").value },
    });
    delete $("stream-form").dataset.dirty;
    showStatus(status);
    $("stream-save").textContent = "Saved";
    setTimeout(() => {
      $("stream-save").textContent = "Save title and description";
    }, 1500);
  } catch (error) {
    $("stream-error").textContent = error.message;
  }
});

$("stream-stop").addEventListener("click", async () => {
  if (!confirm("End the stream now? OBS will be disconnected.")) return;
  try {
    await api("/api/streaming/stop", { method: "POST" });
    showStatus(await api("/api/streaming/status"));
  } catch (error) {
    $("stream-error").textContent = error.message;
  }
});

// --- keys -------------------------------------------------------------------------------

function showFullKey(key) {
  $("obs-key").value = key.key;
  $("obs-key").dataset.keyId = key.id;
}

function keyItem(key) {
  const toggle = (field, label) => {
    const box = el("input", { type: "checkbox", checked: key[field] });
    box.addEventListener("change", async () => {
      try {
        await api(`/api/streaming/keys/${key.id}`, { method: "PUT", body: { [field]: box.checked } });
      } catch (error) {
        box.checked = !box.checked;
        $("keys-error").textContent = error.message;
      }
    });
    return el("label", { class: "inline" }, box, label);
  };
  const regenerate = el("button", { type: "button", class: "button subtle" }, "Regenerate");
  regenerate.addEventListener("click", async () => {
    if (!confirm(`Replace the key "${key.name}"? OBS needs the new one.`)) return;
    const answer = await api(`/api/streaming/keys/${key.id}`, { method: "PUT", body: { regenerate: true } });
    showFullKey(answer.key);
    loadKeys();
  });
  const remove = el("button", { type: "button", class: "button danger" }, "Delete");
  remove.addEventListener("click", async () => {
    if (!confirm(`Delete the key "${key.name}"?`)) return;
    await api(`/api/streaming/keys/${key.id}`, { method: "DELETE" });
    if ($("obs-key").dataset.keyId === String(key.id)) $("obs-key").value = "";
    loadKeys();
  });
  return el(
    "li",
    { class: "key-item", dataset: { keyId: key.id } },
    el(
      "div",
      { class: "key-main" },
      el("strong", {}, key.name || "key " + key.id),
      el("code", { class: "key-masked" }, key.key),
      el("span", { class: "muted" }, key.last_used_at ? "used " + timeAgo(key.last_used_at) : "never used"),
    ),
    el("div", { class: "row" }, toggle("enabled", "Enabled"), toggle("record", "Record"), regenerate, remove),
  );
}

async function loadKeys() {
  try {
    const { keys } = await api("/api/streaming/keys");
    $("key-list").replaceChildren(
      ...(keys.length ? keys.map(keyItem) : [el("li", { class: "muted" }, "No keys yet: create one for OBS.")]),
    );
  } catch (error) {
    $("keys-error").textContent = error.message;
  }
}

$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("keys-error").textContent = "";
  const name = $("key-name").value.trim();
  try {
    const answer = await api("/api/streaming/keys", { method: "POST", body: name ? { name } : {} });
    showFullKey(answer.key);
    $("key-name").value = "";
    loadKeys();
  } catch (error) {
    $("keys-error").textContent = error.message;
  }
});

// --- videos -----------------------------------------------------------------------------

// Still being made: processing, or watchable with its ladder in progress.
const busyVideo = (video) => video.state === "processing" || video.ladder === "pending";

function videoItem(video) {
  const queued = video.queue && video.queue.state === "queued";
  const progress = busyVideo(video) && !queued
    ? el("progress", { max: "100", value: String(video.progress), "aria-label": `Processing ${video.title}` })
    : null;
  return el(
    "li",
    { class: "video-item", dataset: { video: video.id, state: video.state, origin: video.origin } },
    el(
      "a",
      { href: video.state === "ready" ? "/watch/" + video.id : null, class: "video-title" },
      video.title,
    ),
    el("span", { class: "state-badge", dataset: { state: video.state } }, video.state),
    progress,
    busyVideo(video) || video.ladder ? el("span", { class: "muted processing-state" }, processingText(video)) : null,
    video.failure ? el("span", { class: "form-error" }, video.failure) : null,
    el("span", { class: "muted" }, video.duration ? formatDuration(video.duration) : "", " ", timeAgo(video.created_at)),
  );
}

// Recordings are made from live sessions (origin "live"), uploads from files.
const VIDEO_LISTS = [
  { id: "my-recordings", live: true, empty: "No recordings yet: live sessions are recorded when the key's Record box is on." },
  { id: "my-uploads", live: false, empty: "No uploads yet." },
];

async function loadVideos() {
  let busy = false;
  try {
    const { videos } = await api("/api/videos?mine=1&limit=50");
    busy = videos.some(busyVideo);
    for (const list of VIDEO_LISTS) {
      const mine = videos.filter((video) => (video.origin === "live") === list.live);
      $(list.id).replaceChildren(...(mine.length ? mine.map(videoItem) : [el("li", { class: "muted" }, list.empty)]));
    }
  } catch (error) {
    for (const list of VIDEO_LISTS) $(list.id).replaceChildren(el("li", { class: "form-error" }, error.message));
  }
  setTimeout(loadVideos, busy ? VIDEOS_POLL_MS / 2 : VIDEOS_POLL_MS);
}

if (requireLogin()) {
  const user = currentUser();
  if (user) $("watch-link").href = "/channel/" + user.name;
  pollStatus();
  loadKeys();
  loadVideos();
}

window.trioflix = { status: () => lastStatus };
