// Studio: the channel's recordings and uploads with their processing state, each with
// Edit (title and description) and Delete; and the uploads that have not finished, to
// resume on the upload page or delete.
import { api, el, formatBytes, formatDuration, timeAgo, token } from "./api.js";
import { processingText } from "./processing_state.js";

const VIDEOS_POLL_MS = 5000;
const TUS_ENDPOINT = "/api/upload/video/tus";

const $ = (id) => document.getElementById(id);
let editing = 0; // open edit forms: the lists are not redrawn under the person's hands

// Recordings are made from live sessions (origin "live"), uploads from files.
const VIDEO_LISTS = [
  { id: "my-recordings", live: true, empty: "No recordings yet: live sessions are recorded when the key's Record box is on." },
  { id: "my-uploads", live: false, empty: "No uploads yet." },
];

// Still being made: processing, or watchable with its ladder in progress.
const busyVideo = (video) => video.state === "processing" || video.ladder === "pending";

function processingState(video) {
  const queued = video.queue && video.queue.state === "queued";
  return [
    busyVideo(video) && !queued
      ? el("progress", { max: "100", value: String(video.progress), "aria-label": `Processing ${video.title}` })
      : null,
    busyVideo(video) || video.ladder ? el("span", { class: "muted processing-state" }, processingText(video)) : null,
  ];
}

function editForm(video, item) {
  const title = el("input", { name: "title", maxlength: "200", required: true, value: video.title });
  const description = el("textarea", { name: "description", maxlength: "5000", rows: "3" });
  description.value = video.description || "";
  const error = el("p", { class: "form-error", role: "alert" });
  const cancel = el("button", { type: "button", class: "button subtle" }, "Cancel");
  const form = el(
    "form",
    { class: "stack video-edit", "aria-label": `Edit ${video.title}` },
    el("label", {}, "Title", title),
    el("label", {}, "Description", description),
    el("div", { class: "row" }, el("button", { type: "submit", class: "button primary" }, "Save"), cancel),
    error,
  );
  const close = () => {
    form.remove();
    item.classList.remove("editing");
    editing -= 1;
  };
  cancel.addEventListener("click", close);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await api(`/api/videos/${video.id}`, {
        method: "PATCH",
        body: { title: title.value.trim(), description: description.value },
      });
      close();
      loadVideos();
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  return form;
}

function videoItem(video) {
  const edit = el("button", { type: "button", class: "button subtle" }, "Edit");
  const remove = el("button", { type: "button", class: "button danger" }, "Delete");
  const error = el("span", { class: "form-error", role: "alert" });
  const item = el(
    "li",
    { class: "video-item", dataset: { video: video.id, state: video.state, origin: video.origin } },
    el("a", { href: video.state === "ready" ? "/watch/" + video.id : null, class: "video-title" }, video.title),
    el("span", { class: "state-badge", dataset: { state: video.state } }, video.state),
    processingState(video),
    video.failure ? el("span", { class: "form-error" }, video.failure) : null,
    el("span", { class: "muted" }, video.duration ? formatDuration(video.duration) : "", " ", timeAgo(video.created_at)),
    el("span", { class: "row" }, edit, remove),
    error,
  );
  edit.addEventListener("click", () => {
    if (item.classList.contains("editing")) return;
    item.classList.add("editing");
    editing += 1;
    item.append(editForm(video, item));
    item.querySelector("input[name=title]").focus();
  });
  remove.addEventListener("click", async () => {
    if (!confirm(`Delete "${video.title}"? Its files are removed for good.`)) return;
    try {
      await api(`/api/videos/${video.id}`, { method: "DELETE" });
      item.remove();
      loadVideos();
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  return item;
}

// An upload still waiting for bytes: the upload page resumes it when the file is chosen again.
function unfinishedItem(upload) {
  const remove = el("button", { type: "button", class: "button danger" }, "Delete");
  const error = el("span", { class: "form-error", role: "alert" });
  const item = el(
    "li",
    { class: "video-item", dataset: { upload: upload.id, state: "uploading" } },
    el("span", { class: "video-title" }, upload.filename || "Unnamed upload"),
    el("span", { class: "state-badge", dataset: { state: "uploading" } }, "unfinished"),
    el("span", { class: "muted" }, `${formatBytes(upload.received)} of ${formatBytes(upload.length)}`),
    el("span", { class: "row" }, el("a", { class: "button subtle", href: "/upload" }, "Resume"), remove),
    error,
  );
  remove.addEventListener("click", async () => {
    if (!confirm(`Delete the unfinished upload of "${upload.filename || "this file"}"?`)) return;
    // tus termination: the bytes received so far go.
    const response = await fetch(`${TUS_ENDPOINT}/${encodeURIComponent(upload.id)}`, {
      method: "DELETE",
      headers: { "Tus-Resumable": "1.0.0", Authorization: `Bearer ${token()}` },
    });
    if (response.ok || response.status === 404 || response.status === 410) {
      item.remove();
      loadVideos();
    } else {
      error.textContent = `Could not delete it (${response.status}).`;
    }
  });
  return item;
}

let timer = null;

async function loadVideos() {
  clearTimeout(timer);
  let busy = false;
  if (!editing) {
    try {
      const [{ videos }, { uploads }] = await Promise.all([
        api("/api/videos?mine=1&limit=50"),
        api("/api/upload/unfinished"),
      ]);
      busy = videos.some(busyVideo);
      // An edit form opened while the lists were on their way stays open: the next
      // load after it closes redraws them.
      if (!editing) {
        for (const list of VIDEO_LISTS) {
          const mine = videos.filter((video) => (video.origin === "live") === list.live);
          const items = mine.map(videoItem);
          if (!list.live) items.unshift(...uploads.map(unfinishedItem));
          $(list.id).replaceChildren(...(items.length ? items : [el("li", { class: "muted" }, list.empty)]));
        }
      }
    } catch (error) {
      if (!editing) {
        for (const list of VIDEO_LISTS) $(list.id).replaceChildren(el("li", { class: "form-error" }, error.message));
      }
    }
  }
  timer = setTimeout(loadVideos, busy ? VIDEOS_POLL_MS / 2 : VIDEOS_POLL_MS);
}

if (token()) loadVideos();
