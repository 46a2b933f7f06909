// Upload: several files at once over tus (tus-js-client), each with its title and
// description, progress, speed and time left; resumable after a reload (the client keeps
// each upload's URL under the file's fingerprint); then the processing progress until the
// video is ready. A file the server refuses (not a video) says why and can be deleted, and
// so can an upload that did not finish.
import { api, el, formatBytes, formatDuration, requireLogin, token } from "./api.js";
import { processingText } from "./processing_state.js";

const ENDPOINT = "/api/upload/video/tus";
// One PATCH per 64 MiB: progress is committed server-side at least that often, and a
// proxy with a body-size limit in front of trioflix still works.
const CHUNK_BYTES = 64 * 1024 * 1024;
const RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000];
const SPEED_WINDOW_MS = 5000;

const TITLE_MAX = 200;
const DESCRIPTION_MAX = 5000;

const list = document.getElementById("upload-list");
const zone = document.getElementById("drop-zone");
const input = document.getElementById("file-input");
const uploads = [];

function titleOf(file) {
  return file.name.replace(/\.[^.]+$/, "").replace(/[_-]+/g, " ").trim() || file.name;
}

class UploadRow {
  constructor(file) {
    this.file = file;
    this.samples = [];
    this.bar = el("progress", { max: "100", value: "0", "aria-label": `Upload of ${file.name}` });
    this.stateText = el("span", { class: "state-badge", dataset: { state: "uploading" } }, "starting");
    this.detail = el("span", { class: "upload-detail muted" }, formatBytes(file.size));
    this.pauseButton = el("button", { type: "button", class: "button subtle" }, "Pause");
    this.cancelButton = el("button", { type: "button", class: "button danger" }, "Cancel");
    this.deleteButton = el("button", { type: "button", class: "button danger", hidden: true }, "Delete");
    this.link = el("a", { class: "button primary", hidden: true }, "Watch");
    // The title and description go with the upload (tus metadata); edited later, they
    // are saved on the video once the server has made it.
    this.titleInput = el("input", { name: "title", maxlength: String(TITLE_MAX), value: titleOf(file) });
    this.descriptionInput = el("textarea", { name: "description", maxlength: String(DESCRIPTION_MAX), rows: "2" });
    this.saveButton = el("button", { type: "submit", class: "button subtle" }, "Save details");
    this.savedText = el("span", { class: "muted", role: "status" });
    this.details = el(
      "form",
      { class: "upload-details", "aria-label": `Details of ${file.name}` },
      el("label", {}, "Title", this.titleInput),
      el("label", {}, "Description", this.descriptionInput),
      el("div", { class: "row" }, this.saveButton, this.savedText),
    );
    this.node = el(
      "li",
      { class: "upload-item", dataset: { file: file.name } },
      el("div", { class: "upload-head" }, el("strong", { class: "upload-name" }, file.name), this.stateText),
      this.details,
      this.bar,
      el(
        "div",
        { class: "row" },
        this.detail,
        el("span", { class: "spacer" }),
        this.pauseButton,
        this.cancelButton,
        this.deleteButton,
        this.link,
      ),
    );
    this.pauseButton.addEventListener("click", () => this.togglePause());
    this.cancelButton.addEventListener("click", () => this.cancel());
    this.deleteButton.addEventListener("click", () => this.remove());
    this.details.addEventListener("input", () => {
      this.savedText.textContent = "";
    });
    this.details.addEventListener("submit", (event) => {
      event.preventDefault();
      this.saveDetails();
    });
  }

  detailValues() {
    return { title: this.titleInput.value.trim() || titleOf(this.file), description: this.descriptionInput.value };
  }

  // Before the video exists the details wait (what the upload was created with may be
  // older); the video's id arrives with the processing status.
  async saveDetails() {
    if (this.videoId === undefined) {
      this.detailsPending = true;
      this.savedText.textContent = "Saved; applied when the upload is done";
      return;
    }
    this.detailsPending = false;
    try {
      await api(`/api/videos/${this.videoId}`, { method: "PATCH", body: this.detailValues() });
      this.savedText.textContent = "Saved";
      this.node.dataset.detailsSaved = "true";
    } catch (error) {
      this.savedText.textContent = `Not saved: ${error.message}`;
    }
  }

  // Delete what the server holds of this upload: its video (a refused or failed file) or,
  // when it never finished, the unfinished upload itself.
  async remove() {
    try {
      if (this.videoId !== undefined) {
        await api(`/api/videos/${this.videoId}`, { method: "DELETE" });
      } else if (this.upload) {
        await this.upload.abort(true); // true: also DELETE it on the server
      }
    } catch (error) {
      if (error.status !== 404) {
        this.detail.textContent = `Could not delete it: ${error.message}`;
        return;
      }
    }
    if (this.events) this.events.close();
    this.node.remove();
    uploads.splice(uploads.indexOf(this), 1);
    refreshUnfinished();
  }

  setState(state, label = state) {
    this.stateText.dataset.state = state;
    this.stateText.textContent = label;
    this.node.dataset.state = state;
  }

  async start() {
    const upload = new window.tus.Upload(this.file, {
      endpoint: ENDPOINT,
      chunkSize: CHUNK_BYTES,
      retryDelays: RETRY_DELAYS_MS,
      headers: { Authorization: `Bearer ${token()}` },
      metadata: { filename: this.file.name, filetype: this.file.type || "application/octet-stream", ...this.detailValues() },
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onProgress: (sent, total) => this.progress(sent, total),
      onSuccess: () => this.uploaded(),
      onError: (error) => this.failed(error),
    });
    this.upload = upload;
    const previous = await upload.findPreviousUploads();
    if (previous.length) {
      // Newest first: the most recent attempt at this very file.
      previous.sort((a, b) => String(b.creationTime).localeCompare(String(a.creationTime)));
      upload.resumeFromPreviousUpload(previous[0]);
      this.resumed = true;
      this.node.dataset.resumed = "true";
    }
    this.setState("uploading", this.resumed ? "resuming" : "uploading");
    upload.start();
    refreshUnfinished();
  }

  progress(sent, total) {
    const now = performance.now();
    this.samples.push([now, sent]);
    while (this.samples.length > 2 && now - this.samples[0][0] > SPEED_WINDOW_MS) this.samples.shift();
    const [firstTime, firstBytes] = this.samples[0];
    const rate = now > firstTime ? ((sent - firstBytes) * 1000) / (now - firstTime) : 0;
    const percent = total ? (sent / total) * 100 : 0;
    this.bar.value = percent;
    const left = rate > 0 ? formatDuration((total - sent) / rate) + " left" : "";
    this.detail.textContent = `${formatBytes(sent)} of ${formatBytes(total)} · ${percent.toFixed(0)}%` + (rate > 0 ? ` · ${formatBytes(rate)}/s · ${left}` : "");
    this.setState("uploading", this.resumed ? "resuming" : "uploading");
  }

  togglePause() {
    if (!this.upload) return;
    if (this.paused) {
      this.paused = false;
      this.pauseButton.textContent = "Pause";
      this.upload.start();
    } else {
      this.paused = true;
      this.pauseButton.textContent = "Resume";
      this.upload.abort();
      this.setState("paused");
    }
  }

  async cancel() {
    if (this.events) this.events.close();
    if (this.upload) {
      try {
        await this.upload.abort(true); // true: also DELETE it on the server
      } catch {
        // already gone
      }
    }
    this.setState("cancelled");
    this.pauseButton.hidden = true;
    this.cancelButton.hidden = true;
    refreshUnfinished();
  }

  failed(error) {
    this.setState("failed", "interrupted");
    this.detail.textContent = `${error.message || error}. Choose the file again to resume.`;
    this.pauseButton.hidden = true;
    this.cancelButton.hidden = true;
    this.deleteButton.hidden = false;
    refreshUnfinished();
  }

  uploaded() {
    this.pauseButton.hidden = true;
    this.cancelButton.hidden = true;
    this.bar.value = 100;
    // The server checks the file is a video before it queues its processing.
    this.setState("checking", "checking");
    this.detail.textContent = "Uploaded; checking the file…";
    const id = this.upload.url.split("/").pop();
    this.node.dataset.uploadId = id;
    this.follow(id);
    refreshUnfinished();
  }

  follow(id) {
    const source = new EventSource(`/api/upload/status/${encodeURIComponent(id)}/events?token=${encodeURIComponent(token())}`);
    this.events = source;
    source.addEventListener("status", (event) => {
      const status = JSON.parse(event.data).upload || JSON.parse(event.data);
      this.showStatus(status);
      if (status.state === "ready" || status.state === "failed") source.close();
    });
  }

  showStatus(status) {
    if (status.video_id !== null && status.video_id !== undefined && this.videoId === undefined) {
      this.videoId = status.video_id;
      this.node.dataset.videoId = status.video_id;
      if (this.detailsPending) this.saveDetails();
    }
    if (status.state === "processing") {
      const queued = status.queue && status.queue.state === "queued";
      this.bar.value = status.processing_percent || 0;
      this.detail.textContent = processingText(status);
      this.setState("processing", queued ? "queued" : "processing");
    } else if (status.state === "ready") {
      this.bar.value = 100;
      this.setState("ready");
      this.detail.textContent = "Ready to watch";
      this.link.href = "/watch/" + status.video_id;
      this.link.hidden = false;
    } else if (status.state === "failed") {
      this.setState("failed");
      this.detail.textContent = status.reason || "processing failed";
      this.bar.hidden = true;
      this.deleteButton.hidden = false;
    }
  }
}

function addFiles(files) {
  for (const file of files) {
    const row = new UploadRow(file);
    uploads.push(row);
    list.append(row.node);
    row.start();
  }
}

// Uploads tus-js-client remembers (localStorage, keyed by fingerprint) that did not finish.
function refreshUnfinished() {
  const entries = [];
  for (let i = 0; i < localStorage.length; i += 1) {
    const key = localStorage.key(i);
    if (!key || !key.startsWith("tus::")) continue;
    try {
      const entry = JSON.parse(localStorage.getItem(key));
      entries.push({ ...entry, storageKey: key });
    } catch {
      // not ours
    }
  }
  const active = new Set(uploads.filter((u) => u.node.dataset.state === "uploading").map((u) => u.file.name));
  const waiting = entries.filter((entry) => entry.metadata && !active.has(entry.metadata.filename));
  const box = document.getElementById("unfinished");
  box.hidden = !waiting.length;
  document.getElementById("unfinished-list").replaceChildren(...waiting.map(unfinishedItem));
}

function unfinishedItem(entry) {
  const remove = el("button", { type: "button", class: "button danger" }, "Delete");
  const item = el(
    "li",
    { class: "unfinished-item", dataset: { file: entry.metadata.filename } },
    `${entry.metadata.filename} (${formatBytes(entry.size)}) `,
    remove,
  );
  remove.addEventListener("click", async () => {
    // tus termination: the server drops the bytes it has; an upload it no longer has
    // (finished, expired, deleted elsewhere) is simply forgotten here.
    const response = await fetch(entry.uploadUrl, {
      method: "DELETE",
      headers: { "Tus-Resumable": "1.0.0", Authorization: `Bearer ${token()}` },
    });
    if (!response.ok && response.status !== 404 && response.status !== 410) {
      item.append(el("span", { class: "form-error" }, ` Could not delete it (${response.status}).`));
      return;
    }
    localStorage.removeItem(entry.storageKey);
    refreshUnfinished();
  });
  return item;
}

zone.addEventListener("click", () => input.click());
zone.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    input.click();
  }
});
input.addEventListener("change", () => {
  addFiles([...input.files]);
  input.value = "";
});
for (const name of ["dragenter", "dragover"]) {
  zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
}
zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  zone.classList.remove("dragging");
  addFiles([...event.dataTransfer.files]);
});

if (requireLogin()) {
  if (typeof window.tus === "undefined" || !window.tus.isSupported) {
    list.append(el("li", { class: "form-error" }, "The upload library did not load (run npm ci in web/)."));
  }
  refreshUnfinished();
}
window.trioflix = { uploads };
