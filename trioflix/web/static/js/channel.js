// Channel: the live player beside the chat; an offline slate with the last or next
// stream when nobody is live, and playback that starts by itself when the stream returns.
import { api, el, timeAgo } from "./api.js";
import { latestRecordingLine } from "./channel_videos.js";
import { ChatPanel } from "./chat.js";
import { Player } from "./player.js";

const channel = document.body.dataset.channel;
const OFFLINE_POLL_MS = 3000; // how soon a returning stream starts playing
const LIVE_POLL_MS = 10000; // viewer count and title while live

const title = document.getElementById("stream-title");
const stateText = document.getElementById("stream-state");
const description = document.getElementById("stream-description");
let info = null;
let polling = null;

const origin = location.origin;
const wsOrigin = origin.replace(/^http/, "ws");
const player = new Player(document.getElementById("player"), {
  live: true,
  sources: {
    hls: `${origin}/live/${channel}/master.m3u8`,
    "http-flv": `${origin}/live/${channel}.flv`,
    "ws-flv": `${wsOrigin}/live/${channel}.flv`,
  },
  onOffline: () => offline(),
});
const chat = new ChatPanel(document.getElementById("chat"), channel);
window.trioflix = { player, chat };

// The count shown first was read before this page played (so without its own viewer), and
// the next poll is LIVE_POLL_MS away: read it again as soon as an engine plays. An engine is
// counted from its first request, before it plays; the one it replaced ended its count
// (`fetchChannel` waits for that to be done).
let countedEngine = null;
player.video.addEventListener("playing", async () => {
  if (player.engine === countedEngine) return; // a stall or pause ended, same viewer
  countedEngine = player.engine;
  try {
    render(await fetchChannel());
  } catch {
    // the next poll shows it
  }
});

function slateFor(data) {
  const session = data && data.session;
  const lines = [el("strong", { class: "slate-title" }, `${data ? data.display_name : channel} is offline`)];
  if (session && session.state === "ready") {
    lines.push(el("p", {}, "Next stream: ", el("em", {}, session.title || "untitled")));
  } else if (session && session.ended_at) {
    lines.push(el("p", {}, `Last stream ${timeAgo(session.ended_at)}: `, el("em", {}, session.title || "")));
  }
  const recording = latestRecordingLine();
  if (recording) lines.push(recording);
  lines.push(el("p", { class: "muted" }, "Playback starts by itself when the stream begins."));
  return lines;
}

function render(data) {
  info = data;
  const session = data.session;
  title.textContent = (data.live && session && session.title) || data.display_name;
  document.title = `${data.display_name} · trioflix`;
  stateText.textContent = data.live ? `· live since ${timeAgo(session.started_at)}` : "· offline";
  description.textContent = (data.live && session && session.description) || "";
  player.setViewers(data.viewers || 0);
}

// After a switch away from HLS, the count waits for the server to have ended the HLS
// playback session (its DELETE is not awaited by the switch): read before, it would count
// this viewer twice.
async function fetchChannel() {
  await player.playbackEnded;
  return api(`/api/channels/${encodeURIComponent(channel)}`, { auth: false });
}

function schedule(fn, ms) {
  clearTimeout(polling);
  polling = setTimeout(fn, ms);
}

async function offline() {
  let data = info;
  try {
    data = await fetchChannel();
    render(data);
  } catch (error) {
    if (error.status === 404) {
      player.showSlate([el("strong", { class: "slate-title" }, "No such channel")]);
      title.textContent = "No such channel";
      return;
    }
  }
  if (data && data.live) {
    // Live by the API, but the player failed (HLS not ready yet, a blip): try again soon.
    player.showSlate([el("strong", { class: "slate-title" }, "Reconnecting…")]);
    schedule(start, OFFLINE_POLL_MS);
    return;
  }
  player.showSlate(slateFor(data));
  schedule(waitForLive, OFFLINE_POLL_MS);
}

// Play a live channel; otherwise show its offline slate and wait for it to go live.
function follow(data) {
  if (data.live) {
    // Offered only while this host can serve them (live here, WebRTC: a stream it can carry).
    player.sources["ll-hls"] = data.playback && data.playback.ll_hls;
    player.sources.whep = data.playback && data.playback.whep;
    player.sources.whepRenditions = data.playback && data.playback.whep_renditions;
    player.load();
    schedule(whileLive, LIVE_POLL_MS);
  } else {
    player.showSlate(slateFor(data));
    schedule(waitForLive, OFFLINE_POLL_MS);
  }
}

async function waitForLive() {
  try {
    const data = await fetchChannel();
    render(data);
    follow(data);
  } catch {
    schedule(waitForLive, OFFLINE_POLL_MS); // network blip: keep waiting
  }
}

async function whileLive() {
  try {
    const data = await fetchChannel();
    render(data);
    if (!data.live) {
      offline();
      return;
    }
    // The ladder's rungs join a while after the stream starts: WebRTC's quality menu too.
    player.setWhepRenditions(data.playback && data.playback.whep_renditions);
  } catch {
    // keep the stream playing through API blips
  }
  schedule(whileLive, LIVE_POLL_MS);
}

async function start() {
  try {
    const data = await fetchChannel();
    render(data);
    follow(data);
  } catch (error) {
    if (error.status === 404) {
      player.showSlate([el("strong", { class: "slate-title" }, "No such channel")]);
      title.textContent = "No such channel";
    } else {
      player.showSlate([el("strong", { class: "slate-title" }, "Cannot reach the server")]);
      schedule(start, OFFLINE_POLL_MS);
    }
  }
}

start();
