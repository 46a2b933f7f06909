// Video: the VOD player with seek-preview thumbnails; a video still processing shows its
// progress (to its owner) and starts playing once it is ready.
import { api, currentUser, el, formatDuration, timeAgo } from "./api.js";
import { Player } from "./player.js";
import { processingText } from "./processing_state.js";

const PROCESSING_POLL_MS = 2000;
const videoId = document.body.dataset.videoId;
const $ = (id) => document.getElementById(id);
let player = null;

function render(video) {
  $("video-title").textContent = video.title;
  document.title = `${video.title} · trioflix`;
  $("video-channel").textContent = video.channel;
  $("video-channel").href = "/channel/" + video.channel;
  const facts = [timeAgo(video.created_at)];
  if (video.duration) facts.push(formatDuration(video.duration));
  if (video.height) facts.push(video.height + "p");
  $("video-meta").textContent = "· " + facts.join(" · ");
  $("video-description").textContent = video.description || "";
}

async function load() {
  let video;
  try {
    video = (await api(`/api/videos/${videoId}`)).video;
  } catch (error) {
    $("video-title").textContent = error.status === 404 ? "No such video" : "Could not load the video";
    $("player").replaceChildren(el("div", { class: "slate" }, el("strong", { class: "slate-title" }, error.message)));
    return;
  }
  render(video);
  if (video.state === "ready") {
    showLadder(video);
    player = new Player($("player"), {
      live: false,
      sources: { hls: video.playback.hls },
      poster: video.thumbnails && video.thumbnails.poster,
      preview: video.thumbnails ? { vtt: video.thumbnails.sprite_vtt } : null,
    });
    window.trioflix = { player, video };
    player.load("hls");
    return;
  }
  if (video.state === "failed") {
    $("player").replaceChildren(
      el("div", { class: "slate" }, el("strong", { class: "slate-title" }, "Processing failed"), el("p", {}, video.failure || "")),
    );
    return;
  }
  showProcessing(video);
  $("player").replaceChildren(el("div", { class: "slate" }, el("strong", { class: "slate-title" }, "Processing…")));
  setTimeout(load, PROCESSING_POLL_MS);
}

function showProcessing(video) {
  $("video-processing").hidden = false;
  $("processing-text").textContent = processingText(video);
  $("processing-bar").value = video.progress;
  $("processing-bar").hidden = Boolean(video.queue && video.queue.state === "queued");
}

// A recording plays as streamed while its other qualities are made: its owner sees
// that progress, and the player (on the master playlist it loaded) is left alone.
async function showLadder(video) {
  const user = currentUser();
  if (!video.ladder || !user || user.name !== video.channel) {
    $("video-processing").hidden = true;
    return;
  }
  showProcessing(video);
  if (video.ladder !== "pending") return;
  await new Promise((resolve) => setTimeout(resolve, PROCESSING_POLL_MS));
  try {
    showLadder((await api(`/api/videos/${videoId}`)).video);
  } catch {
    setTimeout(() => showLadder(video), PROCESSING_POLL_MS);
  }
}

load();
