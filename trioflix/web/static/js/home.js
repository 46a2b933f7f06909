// Home: who is live now and the most recent videos; the live list refreshes itself.
import { api, el } from "./api.js";
import { videoCard } from "./video_card.js";

const REFRESH_MS = 15000;

function initials(name) {
  return (name || "?").slice(0, 2).toUpperCase();
}

// A recent picture of the stream, refreshed with the list: the query changes every refresh so
// the browser asks again (the server caches each channel's picture for a few seconds).
function liveThumbnail(channel) {
  if (!channel.thumbnail) return null;
  const src = `${channel.thumbnail}?t=${Math.floor(Date.now() / REFRESH_MS)}`;
  // No picture yet (the first keyframe is on its way): the initials behind it stay visible.
  return el("img", { src, alt: "", class: "live-picture", onerror: (event) => event.target.remove() });
}

export function liveCard(channel) {
  return el(
    "a",
    { class: "card tile", href: "/channel/" + channel.name, dataset: { channel: channel.name } },
    el(
      "div",
      { class: "thumb live-thumb" },
      el("span", { class: "thumb-initials", "aria-hidden": "true" }, initials(channel.display_name)),
      liveThumbnail(channel),
      el("span", { class: "badge live" }, "LIVE"),
      el("span", { class: "badge viewers" }, `${channel.viewers} watching`),
    ),
    el(
      "div",
      { class: "tile-text" },
      el("strong", { class: "tile-title" }, channel.title || channel.display_name + " live"),
      el("span", { class: "muted" }, channel.display_name),
    ),
  );
}

async function loadLive() {
  const grid = document.getElementById("live-grid");
  try {
    const { channels } = await api("/api/channels", { auth: false });
    grid.replaceChildren(
      ...(channels.length ? channels.map(liveCard) : [el("p", { class: "muted" }, "Nobody is live right now.")]),
    );
  } catch (error) {
    grid.replaceChildren(el("p", { class: "form-error" }, "Could not load live channels: " + error.message));
  }
}

async function loadVideos() {
  const grid = document.getElementById("video-grid");
  try {
    const { videos } = await api("/api/videos?limit=24", { auth: false });
    grid.replaceChildren(
      ...(videos.length ? videos.map(videoCard) : [el("p", { class: "muted" }, "No videos yet.")]),
    );
  } catch (error) {
    grid.replaceChildren(el("p", { class: "form-error" }, "Could not load videos: " + error.message));
  }
}

loadLive();
loadVideos();
setInterval(() => {
  if (!document.hidden) loadLive();
}, REFRESH_MS);
