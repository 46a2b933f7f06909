// Channel: the channel's videos and recordings under the player, a page at a time, and its
// latest recording for the offline slate.
import { api, el } from "./api.js";
import { videoCard } from "./video_card.js";

const PAGE_SIZE = 12;
const RECORDING_POLL_MS = 15000; // a stream that just ended is recorded a little later

const channel = document.body.dataset.channel;
const grid = document.getElementById("channel-videos");
const more = document.getElementById("channel-videos-more");
let nextBefore = null;
let latest = null;

function videosUrl(query) {
  return "/api/videos?" + new URLSearchParams({ channel, ...query });
}

async function loadPage() {
  more.disabled = true;
  try {
    const query = { limit: String(PAGE_SIZE) };
    if (nextBefore !== null) query.before = String(nextBefore);
    const { videos, next_before } = await api(videosUrl(query), { auth: false });
    if (nextBefore === null) {
      grid.replaceChildren(...(videos.length ? [] : [el("p", { class: "muted" }, "No videos yet.")]));
    }
    grid.append(...videos.map(videoCard));
    nextBefore = next_before;
  } catch (error) {
    grid.append(el("p", { class: "form-error" }, "Could not load the videos: " + error.message));
  }
  more.hidden = nextBefore === null;
  more.disabled = false;
}

async function loadLatestRecording() {
  if (!document.hidden) {
    try {
      const { videos } = await api(videosUrl({ origin: "live", limit: "1" }), { auth: false });
      latest = videos[0] || null;
    } catch {
      // keep the one we had: the slate can go without the link for a while
    }
  }
  setTimeout(loadLatestRecording, RECORDING_POLL_MS);
}

// A line for the offline slate: the latest recording, or null while there is none.
export function latestRecordingLine() {
  if (!latest) return null;
  return el(
    "p",
    { class: "slate-recording" },
    el("a", { class: "button primary", href: "/watch/" + latest.id }, "Watch the latest recording"),
    " ",
    el("em", {}, latest.title),
  );
}

more.addEventListener("click", loadPage);
loadPage();
loadLatestRecording();
