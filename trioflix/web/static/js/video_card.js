// A video as a tile (poster, duration, title, channel), for the home page and channel pages.
import { el, formatDuration, timeAgo } from "./api.js";

export function videoCard(video) {
  const poster = video.thumbnails && video.thumbnails.poster;
  return el(
    "a",
    { class: "card tile", href: "/watch/" + video.id, dataset: { video: video.id, origin: video.origin } },
    el(
      "div",
      { class: "thumb" },
      poster ? el("img", { src: poster, alt: "", loading: "lazy" }) : null,
      video.origin === "live" ? el("span", { class: "badge recording" }, "Recording") : null,
      video.duration ? el("span", { class: "badge duration" }, formatDuration(video.duration)) : null,
    ),
    el(
      "div",
      { class: "tile-text" },
      el("strong", { class: "tile-title" }, video.title),
      el("span", { class: "muted" }, `${video.channel} · ${timeAgo(video.created_at)}`),
    ),
  );
}
