// Studio: stream keys and the OBS settings to paste, start/stop with a title, and the live
// ingest's health. The channel's videos are studio_videos.js's.
import { api, currentUser, el, formatBytes, formatDuration, requireLogin, timeAgo } from "./api.js";

const STATUS_POLL_MS = 2000;

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

// OBS's WHIP output posts its offer here, the stream key as its bearer token.
$("obs-whip").value = location.origin + "/api/whip";

function showStatus(status) {
  lastStatus = status;
  const badge = $("live-state");
  badge.textContent = status.state;
  badge.dataset.state = status.state;
  $("watch-link").href = "/channel/" + status.channel;
  if (status.publish && status.publish.server) $("obs-server").value = status.publish.server;
  $("stream-stop").disabled = status.state === "offline";
  showStopped(status.stopped);
  // Offline, the fields hold the last stream's title and description: the next one's default.
  const session = status.session || status.last_session;
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

// After End stream the server refuses the encoder (OBS reconnecting by itself) until the
// streamer goes live again here, or the operator's cooldown passes.
function showStopped(stopped) {
  $("stream-ended").hidden = !stopped;
  if (!stopped) return;
  const until = stopped.until
    ? `, or until ${new Date(stopped.until * 1000).toLocaleTimeString()}`
    : "";
  $("stream-ended-text").textContent =
    `Stream ended. Your encoder will be refused until you go live again${until}.`;
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

// Sets the title and description, and ends a stop: the encoder may publish again.
async function startStream() {
  $("stream-error").textContent = "";
  const status = await api("/api/streaming/start", {
    method: "POST",
    body: { title: $("stream-title").value, description: $("stream-description").value },
  });
  delete $("stream-form").dataset.dirty;
  showStatus(status);
}

$("stream-resume").addEventListener("click", async () => {
  try {
    await startStream();
  } catch (error) {
    $("stream-error").textContent = error.message;
  }
});

$("stream-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await startStream();
    $("stream-save").textContent = "Saved";
    setTimeout(() => {
      $("stream-save").textContent = "Save title and description";
    }, 1500);
  } catch (error) {
    $("stream-error").textContent = error.message;
  }
});

$("stream-stop").addEventListener("click", async () => {
  if (!confirm("End the stream now? OBS will be disconnected, and refused until you go live again.")) return;
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

if (requireLogin()) {
  const user = currentUser();
  if (user) $("watch-link").href = "/channel/" + user.name;
  pollStatus();
  loadKeys();
}

window.trioflix = { status: () => lastStatus };
