// The player: one <video> with our own controls, fed by one of four engines.
//
//   hls     hls.js (MSE): the ABR ladder of /live/{channel}/master.m3u8 or a VOD master,
//           automatic quality plus a manual choice of the real renditions; in the ll-hls
//           mode, hls.js's low-latency mode on /live/{channel}/master-ll.m3u8 (LL-HLS:
//           parts, blocking reloads), falling back to the ladder where a channel has none
//   native  the browser's own HLS (Safari), where hls.js has no MSE to work with
//   flv     mpegts.js over HTTP-FLV or WS-FLV (/live/{channel}.flv): the low-latency mode
//   webrtc  WHEP (whep.js): real time, the default where the browser and the stream allow
//
// The vendor builds are plain scripts that define the globals Hls and mpegts.
import { el, formatDuration } from "./api.js";
import { WhepEngine, whepAvailable } from "./whep.js";

export const MODES = {
  "ll-hls": "Low latency (LL-HLS)",
  hls: "Standard (HLS)",
  "http-flv": "Low latency (HTTP-FLV)",
  "ws-flv": "Low latency (WS-FLV)",
  webrtc: "Real time (WebRTC)",
};
const MODE_KEY = "trioflix.latencyMode";
const VOLUME_KEY = "trioflix.volume";
// Within this many seconds of the live edge the indicator says LIVE.
const LIVE_SLACK_S = { hls: 2.5, "ll-hls": 1.5, native: 8, flv: 1.5, webrtc: 1 };
const TICK_MS = 500;
// hls.js reads a master playlist once, but a live ladder's rungs join the master only when
// they have a first segment. The server holds the first master back a few seconds for them;
// a rung slower than that (a busy machine) would never reach a player that loaded early. So
// for a while after loading, the player re-reads the master and, when its renditions
// changed, starts hls.js again on it. Rungs appear within ~15 s of the stream's start or
// not at all (docs/hls.md), so the checks stop after LADDER_RECHECK_FOR_MS.
const LADDER_RECHECK_MS = 3000;
const LADDER_RECHECK_FOR_MS = 45000;
// Touch: a tap shows the controls for this long (no hover to keep them up); two taps
// within DOUBLE_TAP_MS toggle fullscreen, as video apps on phones do.
const CONTROLS_SHOWN_MS = 3000;
const DOUBLE_TAP_MS = 350;

/** The variant playlists (absolute paths, no query) a master playlist lists, sorted. */
export function masterVariants(text, base) {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("#"))
    .map((uri) => new URL(uri, base).pathname)
    .sort();
}

function hlsAvailable() {
  return typeof window.Hls !== "undefined" && window.Hls.isSupported();
}

function mpegtsAvailable() {
  return (
    typeof window.mpegts !== "undefined" &&
    window.mpegts.isSupported() &&
    window.mpegts.getFeatureList().mseLivePlayback
  );
}

// The server counts a live HLS player as a viewer by the playback session token (vs) in its
// playlist URLs, until its playlist reloads stop. The player picks its own token so that it
// can end the session when it stops playing HLS (a switch to a low-latency mode): otherwise
// it would count twice, as HLS and FLV viewer, until the HLS reloads were missed. `end()`
// resolves once the server has answered (or the request failed); `keepalive` lets the
// request outlive the page when it is closed.
function openPlaybackSession(masterUrl) {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  const token = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
  const url = new URL(masterUrl, location.href);
  url.searchParams.set("vs", token);
  const leave = new URL(`players/${token}`, url); // /live/{channel}/players/{token}
  return {
    url: url.href,
    end: () => fetch(leave, { method: "DELETE", keepalive: true }).catch(() => {}),
  };
}

// --- engines -------------------------------------------------------------------------

class HlsEngine {
  // lowLatency: the URL is an LL-HLS master playlist: hls.js's low-latency mode, which
  // keeps PART-HOLD-BACK behind the live edge and fetches parts as they are made.
  constructor(video, url, callbacks, { lowLatency = false } = {}) {
    this.kind = lowLatency ? "ll-hls" : "hls";
    this.lowLatency = lowLatency;
    this.video = video;
    this.url = url;
    this.base = new URL(url, location.href).href; // the page may give a path (VOD)
    this.callbacks = callbacks;
    this.restarts = 0;
    this.start(null);
    if (callbacks.live) {
      const until = Date.now() + LADDER_RECHECK_FOR_MS;
      this.recheck = setInterval(() => {
        if (Date.now() > until) clearInterval(this.recheck);
        else this.checkRenditions();
      }, LADDER_RECHECK_MS);
    }
  }

  // resume: null, or {behind, height} to restore after a restart (seconds behind the live
  // edge when that was more than the LIVE slack; the height of a pinned quality).
  start(resume) {
    const { live, onFatal, onLevels, onLevel } = this.callbacks;
    const Hls = window.Hls;
    // Low latency: the distance from the live edge comes from the playlist's PART-HOLD-BACK,
    // and playback runs up to 1.5x faster to get back to it after a start behind or a stall.
    // (Parts shorter than 0.2 s, which hls.js can take as loaded when they are not, are
    // the server's to avoid: docs/hls.md.)
    // Classic: three segments behind the newest one's end, the least RFC 8216 6.3.3 allows.
    // hls.js counts them in EXT-X-TARGETDURATION, which the server keeps at the segment
    // length (2 for 2 s segments), so three target durations are three real segments.
    const latency = this.lowLatency
      ? { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 }
      : { lowLatencyMode: false, liveSyncDurationCount: 3 };
    this.hls = new Hls({
      enableWorker: true,
      ...latency,
      // Media already played is kept 30 s on a classic live stream, 90 s on a video. On low
      // latency hls.js never flushes it: a flush that completes while a segment's parts are
      // still being appended makes hls.js 1.7 forget the parts appended so far (its fragment
      // tracker takes the segment for evicted); at that segment's end it then loads nothing
      // until those parts leave the playlist, a stall of seconds about once a minute. The
      // browser's SourceBuffer quota, whose eviction hls.js follows, bounds it instead.
      backBufferLength: live && this.lowLatency ? Infinity : live ? 30 : 90,
      // A session that has just started may still answer 404 for a moment.
      manifestLoadingMaxRetry: 4,
      levelLoadingMaxRetry: 4,
    });
    this.recoveries = 0;
    this.hls.on(Hls.Events.MANIFEST_PARSED, () => {
      const levels = this.levels();
      this.variants = levels.map((level) => level.path).sort();
      const pinned = resume && resume.height ? levels.find((level) => level.height === resume.height) : null;
      if (pinned) this.hls.currentLevel = pinned.index;
      onLevels(levels, pinned ? pinned.index : -1);
    });
    this.hls.on(Hls.Events.LEVEL_SWITCHED, (_event, data) => onLevel(this.levels()[data.level]));
    if (resume && resume.behind) {
      this.hls.once(Hls.Events.FRAG_BUFFERED, () => {
        const sync = this.hls.liveSyncPosition;
        if (sync === null || sync === undefined) return;
        const ranges = this.video.seekable;
        const earliest = ranges.length ? ranges.start(0) : 0;
        this.video.currentTime = Math.max(earliest, sync - resume.behind);
      });
    }
    this.hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && this.recoveries < 3) {
        this.recoveries += 1;
        this.hls.recoverMediaError();
        return;
      }
      onFatal(data.details || data.type, data.response && data.response.code);
    });
    this.hls.loadSource(this.url);
    this.hls.attachMedia(this.video);
  }

  async checkRenditions() {
    if (!this.variants || this.checking) return;
    this.checking = true;
    try {
      const response = await fetch(this.url, { cache: "no-store" });
      if (!response.ok) return; // ended or not ready: the playing engine reports that itself
      const variants = masterVariants(await response.text(), this.base);
      if (this.hls && variants.length && variants.join() !== this.variants.join()) this.restart();
    } catch {
      // a network blip: the next check tries again
    } finally {
      this.checking = false;
    }
  }

  /** Start hls.js again on the current master: same distance from the live edge, same
   * pinned quality, still paused or playing. */
  restart() {
    const behind = this.behindLive();
    const pinned = this.auto ? null : this.levels()[this.currentLevel];
    const paused = this.video.paused;
    this.variants = null;
    this.hls.destroy();
    this.restarts += 1;
    this.start({
      behind: behind > LIVE_SLACK_S[this.kind] ? behind : 0,
      height: pinned ? pinned.height : null,
    });
    if (!paused) this.video.play().catch(() => {});
  }

  levels() {
    return this.hls.levels.map((level, index) => {
      const url = (Array.isArray(level.url) ? level.url[0] : level.url) || "";
      return {
        index,
        height: level.height,
        bitrate: level.bitrate,
        path: url ? new URL(url, this.base).pathname : "",
        // The passthrough rendition is the publisher's own encoding: label it so.
        source: /\/source\//.test(url),
        label: level.height ? level.height + "p" : Math.round(level.bitrate / 1000) + " kb/s",
      };
    });
  }

  get auto() {
    return this.hls.autoLevelEnabled;
  }

  get currentLevel() {
    return this.hls.currentLevel;
  }

  setLevel(index) {
    // currentLevel switches now (flushing what is buffered); -1 gives the choice back to ABR.
    this.hls.currentLevel = index;
  }

  behindLive() {
    const sync = this.hls.liveSyncPosition;
    if (sync === null || sync === undefined) return 0;
    return Math.max(0, sync - this.video.currentTime);
  }

  /** Seconds from the newest media of the playlist to what is shown (hls.js's estimate);
   * null before it knows. */
  latency() {
    const value = this.hls.latency;
    return Number.isFinite(value) && value > 0 ? value : null;
  }

  jumpToLive() {
    const sync = this.hls.liveSyncPosition;
    if (sync !== null && sync !== undefined) this.video.currentTime = sync;
  }

  destroy() {
    clearInterval(this.recheck);
    this.hls.destroy();
    this.hls = null;
  }
}

// One rendition, no quality menu: what the native HLS and FLV engines share.
class SingleLevelEngine {
  levels() {
    return [];
  }

  /** What is buffered ahead of the picture: how far behind the newest media it is. */
  latency() {
    return this.behindLive();
  }

  get auto() {
    return true;
  }

  get currentLevel() {
    return -1;
  }

  setLevel() {}
}

class NativeEngine extends SingleLevelEngine {
  constructor(video, url) {
    super();
    this.kind = "native";
    this.video = video;
    video.src = url;
  }

  behindLive() {
    const ranges = this.video.seekable;
    if (!ranges.length) return 0;
    return Math.max(0, ranges.end(ranges.length - 1) - this.video.currentTime);
  }

  jumpToLive() {
    const ranges = this.video.seekable;
    if (ranges.length) this.video.currentTime = ranges.end(ranges.length - 1);
  }

  destroy() {
    this.video.removeAttribute("src");
    this.video.load();
  }
}

class FlvEngine extends SingleLevelEngine {
  constructor(video, url, { onFatal }) {
    super();
    this.kind = "flv";
    this.video = video;
    const mpegts = window.mpegts;
    this.player = mpegts.createPlayer(
      { type: "flv", isLive: true, url },
      {
        enableWorker: false,
        enableStashBuffer: false, // hand every tag to MSE at once: latency over smoothness
        lazyLoad: false,
        autoCleanupSourceBuffer: true,
        liveBufferLatencyChasing: true,
        liveBufferLatencyMaxLatency: 1.5,
        liveBufferLatencyMinRemain: 0.3,
      },
    );
    this.player.on(mpegts.Events.ERROR, (type, detail) => onFatal(detail || type));
    // The server ends the FLV body (or closes the websocket) when the channel goes offline.
    this.player.on(mpegts.Events.LOADING_COMPLETE, () => onFatal("ended"));
    this.player.attachMediaElement(video);
    this.player.load();
  }

  behindLive() {
    const ranges = this.video.buffered;
    if (!ranges.length) return 0;
    return Math.max(0, ranges.end(ranges.length - 1) - this.video.currentTime);
  }

  jumpToLive() {
    const ranges = this.video.buffered;
    if (ranges.length) this.video.currentTime = Math.max(0, ranges.end(ranges.length - 1) - 0.3);
  }

  destroy() {
    this.player.pause();
    this.player.unload();
    this.player.detachMediaElement();
    this.player.destroy();
  }
}

// --- the player ----------------------------------------------------------------------

// Icons are inline SVG drawn here (no icon font, no emoji font needed); each button's
// aria-label carries the meaning.
const SVG_NS = "http://www.w3.org/2000/svg";
const ICONS = {
  play: [["fill", "M8 5v14l11-7z"]],
  pause: [["fill", "M6 5h4v14H6zM14 5h4v14h-4z"]],
  volume: [
    ["fill", "M3 9v6h4l5 4V5L7 9H3z"],
    ["stroke", "M15.5 8.5a5 5 0 0 1 0 7M18 6a8.5 8.5 0 0 1 0 12"],
  ],
  muted: [
    ["fill", "M3 9v6h4l5 4V5L7 9H3z"],
    ["stroke", "M16 9l6 6M22 9l-6 6"],
  ],
  pip: [
    ["stroke", "M3 5h18v14H3z"],
    ["fill", "M12 11h7v6h-7z"],
  ],
  fullscreen: [["stroke", "M4 9V4h5M15 4h5v5M20 15v5h-5M9 20H4v-5"]],
  settings: [
    ["stroke", "M4 6h9M17 6h3M4 12h3M11 12h9M4 18h11M19 18h1"],
    ["stroke", "M15 4v4M9 10v4M17 16v4"],
  ],
};

function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "20");
  svg.setAttribute("height", "20");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const [paint, d] of ICONS[name]) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    if (paint === "fill") {
      path.setAttribute("fill", "currentColor");
    } else {
      path.setAttribute("fill", "none");
      path.setAttribute("stroke", "currentColor");
      path.setAttribute("stroke-width", "2");
      path.setAttribute("stroke-linecap", "round");
      path.setAttribute("stroke-linejoin", "round");
    }
    svg.append(path);
  }
  return svg;
}

/**
 * A player in `root`.
 *
 * options.live      true for a channel (live edge, latency modes), false for a VOD
 * options.sources   {hls, "http-flv", "ws-flv", whep} URLs (VOD: hls only; whep only while
 *                   the stream can be played over WebRTC), and whepRenditions: the
 *                   renditions WHEP plays ([{name, width, height}], setWhepRenditions)
 * options.preview   VOD only: {vtt} URL of the seek-preview sprite index
 * options.poster    poster image URL
 * options.onOffline called when the stream ends or cannot be loaded (live)
 */
export class Player {
  constructor(root, options) {
    this.root = root;
    this.live = Boolean(options.live);
    this.sources = options.sources || {};
    this.onOffline = options.onOffline || (() => {});
    this.engine = null;
    this.mode = null;
    /** Resolves once the server has taken the last ended HLS playback session out of its
     * viewer count: a count read before would still count this viewer over HLS too. */
    this.playbackEnded = Promise.resolve();
    this.previewCues = [];
    this.build(options);
    this.bindKeys();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    if (options.preview && options.preview.vtt) this.loadPreview(options.preview.vtt);
  }

  build(options) {
    const root = this.root;
    root.classList.add("player", "paused");
    root.tabIndex = 0;
    root.setAttribute("role", "region");
    root.setAttribute("aria-label", this.live ? "Live player" : "Video player");
    this.video = el("video", { playsinline: true, preload: "auto", poster: options.poster || null });
    this.slate = el("div", { class: "slate", hidden: true });
    this.notice = el("div", { class: "player-notice", role: "status", "aria-live": "polite" });
    this.playButton = el("button", { type: "button", class: "ctl play", "aria-label": "Play (k)" }, icon("play"));
    this.muteButton = el("button", { type: "button", class: "ctl mute", "aria-label": "Mute (m)" }, icon("volume"));
    this.volume = el("input", {
      type: "range",
      class: "volume",
      min: "0",
      max: "1",
      step: "0.05",
      "aria-label": "Volume",
    });
    this.liveButton = el(
      "button",
      { type: "button", class: "ctl live-edge", "aria-label": "Jump to live (l)", hidden: !this.live },
      "LIVE",
    );
    this.viewers = el("span", { class: "ctl-text viewers", hidden: !this.live });
    this.time = el("span", { class: "ctl-text time", hidden: this.live }, "0:00 / 0:00");
    this.seek = el("input", {
      type: "range",
      class: "seek",
      min: "0",
      max: "0",
      step: "0.1",
      value: "0",
      "aria-label": "Seek",
      hidden: this.live,
    });
    this.previewBox = el(
      "div",
      { class: "seek-preview", hidden: true, "aria-hidden": "true" },
      el("div", { class: "seek-preview-image" }),
      el("span", { class: "seek-preview-time" }),
    );
    this.quality = el("select", { class: "ctl-select quality", "aria-label": "Quality", disabled: true });
    this.quality.append(el("option", { value: "-1" }, "Auto"));
    this.latency = el("select", { class: "ctl-select latency", "aria-label": "Latency mode", hidden: !this.live });
    for (const [value, label] of Object.entries(MODES)) this.latency.append(el("option", { value }, label));
    // In a wide player the two menus sit in the control row (the panel is display:
    // contents); in a narrow one (a phone) they move into this panel, opened by the
    // settings button, inside the player above the row and scrollable (site.css).
    this.menu = el(
      "div",
      { class: "player-menu", id: `${root.id || "player"}-menu`, role: "group", "aria-label": "Playback settings" },
      el("span", { class: "menu-label", hidden: !this.live, "aria-hidden": "true" }, "Latency"),
      this.latency,
      el("span", { class: "menu-label", "aria-hidden": "true" }, "Quality"),
      this.quality,
    );
    this.menuButton = el(
      "button",
      {
        type: "button",
        class: "ctl menu-toggle",
        "aria-label": "Settings",
        "aria-expanded": "false",
        "aria-controls": this.menu.id,
      },
      icon("settings"),
    );
    this.pipButton = el(
      "button",
      {
        type: "button",
        class: "ctl pip",
        "aria-label": "Picture in picture (p)",
        hidden: !document.pictureInPictureEnabled,
      },
      icon("pip"),
    );
    this.fullButton = el(
      "button",
      { type: "button", class: "ctl fullscreen", "aria-label": "Fullscreen (f)" },
      icon("fullscreen"),
    );
    const seekWrap = el("div", { class: "seek-wrap", hidden: this.live }, this.seek, this.previewBox);
    this.controls = el(
      "div",
      { class: "controls" },
      seekWrap,
      el(
        "div",
        { class: "control-row" },
        this.playButton,
        this.muteButton,
        this.volume,
        this.time,
        this.liveButton,
        this.viewers,
        el("span", { class: "spacer" }),
        this.menu,
        this.menuButton,
        this.pipButton,
        this.fullButton,
      ),
    );
    root.replaceChildren(this.video, this.slate, this.notice, this.controls);

    const video = this.video;
    const savedVolume = Number(localStorage.getItem(VOLUME_KEY));
    video.volume = Number.isFinite(savedVolume) && localStorage.getItem(VOLUME_KEY) !== null ? savedVolume : 1;
    this.volume.value = String(video.volume);
    // A mouse click on the picture plays or pauses; a tap shows the controls instead (a
    // finger cannot hover to find them, and a tap that paused would be a surprise).
    this.pointer = "mouse";
    this.lastTap = 0;
    root.addEventListener("pointerdown", (event) => this.onPointerDown(event), { capture: true });
    video.addEventListener("click", () => (this.pointer === "touch" ? this.onTap() : this.togglePlay()));
    video.addEventListener("dblclick", () => {
      if (this.pointer !== "touch") this.toggleFullscreen(); // a double tap is handled by onTap
    });
    video.addEventListener("play", () => this.syncButtons());
    video.addEventListener("pause", () => this.syncButtons());
    video.addEventListener("volumechange", () => this.syncButtons());
    video.addEventListener("waiting", () => root.classList.add("buffering"));
    video.addEventListener("playing", () => root.classList.remove("buffering"));
    video.addEventListener("loadedmetadata", () => this.syncTime());
    video.addEventListener("ended", () => {
      if (this.live) this.onOffline("ended");
    });
    this.playButton.addEventListener("click", () => this.togglePlay());
    this.muteButton.addEventListener("click", () => this.toggleMute());
    this.volume.addEventListener("input", () => this.setVolume(Number(this.volume.value)));
    this.liveButton.addEventListener("click", () => this.jumpToLive());
    this.quality.addEventListener("change", () => {
      this.setQuality(Number(this.quality.value));
      this.setMenuOpen(false);
    });
    this.latency.addEventListener("change", () => {
      this.setMenuOpen(false);
      this.setMode(this.latency.value);
    });
    this.menuButton.addEventListener("click", () => this.setMenuOpen(!this.root.classList.contains("menu-open")));
    this.pipButton.addEventListener("click", () => this.togglePip());
    this.fullButton.addEventListener("click", () => this.toggleFullscreen());
    this.seek.addEventListener("input", () => {
      video.currentTime = Number(this.seek.value);
    });
    this.seek.addEventListener("pointermove", (event) => this.showPreview(event));
    this.seek.addEventListener("pointerleave", () => {
      this.previewBox.hidden = true;
    });
    this.syncButtons();
  }

  // --- touch ---------------------------------------------------------------------------

  onPointerDown(event) {
    this.pointer = event.pointerType;
    if (event.target !== this.video) this.lastTap = 0; // a double tap is two on the picture
    // A finger on the controls keeps them up while it uses them.
    if (event.pointerType === "touch" && this.root.classList.contains("show-controls")) this.showControls();
    if (!this.menu.contains(event.target) && !this.menuButton.contains(event.target)) this.setMenuOpen(false);
  }

  onTap() {
    const now = performance.now();
    if (now - this.lastTap < DOUBLE_TAP_MS) {
      this.lastTap = 0;
      this.toggleFullscreen();
      return;
    }
    this.lastTap = now;
    this.showControls();
  }

  /** Show the controls, and hide them again CONTROLS_SHOWN_MS after the last touch. */
  showControls() {
    this.root.classList.add("show-controls");
    clearTimeout(this.hideControls);
    this.hideControls = setTimeout(() => {
      if (!this.root.classList.contains("menu-open")) this.root.classList.remove("show-controls");
    }, CONTROLS_SHOWN_MS);
  }

  setMenuOpen(open) {
    this.root.classList.toggle("menu-open", open);
    this.menuButton.setAttribute("aria-expanded", String(open));
    if (!open && this.pointer === "touch") this.showControls(); // then hide after a while
  }

  bindKeys() {
    this.onKey = (event) => {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target;
      // Escape closes the settings panel, from its menus too; focus goes back to its button.
      if (event.key === "Escape" && this.root.classList.contains("menu-open")) {
        this.setMenuOpen(false);
        this.menuButton.focus();
        return;
      }
      const typing =
        target instanceof HTMLInputElement ||
        target instanceof HTMLTextAreaElement ||
        target instanceof HTMLSelectElement ||
        (target instanceof HTMLElement && target.isContentEditable);
      // Range inputs of the player itself keep their arrow keys; other keys still work there.
      if (typing && !(target instanceof HTMLInputElement && target.type === "range")) return;
      if (target instanceof HTMLButtonElement && (event.key === " " || event.key === "Enter")) return;
      const key = event.key.toLowerCase();
      const actions = {
        k: () => this.togglePlay(),
        " ": () => this.togglePlay(),
        m: () => this.toggleMute(),
        f: () => this.toggleFullscreen(),
        p: () => this.togglePip(),
        l: () => (this.live ? this.jumpToLive() : this.skip(10)),
        j: () => this.skip(-10),
        arrowup: () => this.setVolume(this.video.volume + 0.1),
        arrowdown: () => this.setVolume(this.video.volume - 0.1),
        arrowleft: () => this.skip(-5),
        arrowright: () => this.skip(5),
      };
      const action = actions[key];
      if (!action) return;
      if (target instanceof HTMLInputElement && key.startsWith("arrow")) return;
      event.preventDefault();
      action();
    };
    document.addEventListener("keydown", this.onKey);
  }

  // --- sources -----------------------------------------------------------------------

  preferredMode() {
    const webrtc = Boolean(this.sources.whep) && whepAvailable();
    const saved = localStorage.getItem(MODE_KEY);
    const lowLatencyHls = Boolean(this.sources["ll-hls"]);
    if (saved && MODES[saved]) {
      if (saved === "webrtc" ? webrtc : saved !== "ll-hls" || lowLatencyHls) return saved;
    }
    if (webrtc) return "webrtc";
    return lowLatencyHls ? "ll-hls" : "hls";
  }

  /** Start playback in `mode` (live: ll-hls, hls, http-flv, ws-flv, webrtc; VOD: hls). */
  load(mode = this.live ? this.preferredMode() : "hls") {
    this.stopEngine();
    this.mode = mode;
    this.latency.value = mode;
    this.setNotice("");
    this.slate.hidden = true;
    this.root.classList.remove("offline");
    this.quality.replaceChildren(el("option", { value: "-1" }, "Auto"));
    this.quality.disabled = true;
    const callbacks = {
      live: this.live,
      onFatal: (reason, status) => {
        // A channel without LL-HLS (the server has it off): the ladder's HLS instead; if
        // that fails too, the channel is offline.
        if (mode === "ll-hls") this.load("hls");
        else this.fail(reason, status);
      },
      onLevels: (levels, selected) => this.showLevels(levels, selected),
      onLevel: (level) => this.showCurrentLevel(level),
    };
    if (mode === "ll-hls" && !this.sources["ll-hls"]) {
      this.load("hls");
      return;
    }
    if (mode === "hls" || mode === "ll-hls") {
      const master = this.sources[mode];
      const url = this.live ? this.startPlaybackSession(master) : master;
      if (hlsAvailable()) {
        this.engine = new HlsEngine(this.video, url, callbacks, { lowLatency: mode === "ll-hls" });
      } else if (this.video.canPlayType("application/vnd.apple.mpegurl")) {
        this.engine = new NativeEngine(this.video, url);
      } else {
        this.setNotice("This browser cannot play HLS (the hls.js library did not load).");
        return;
      }
    } else if (mode === "webrtc") {
      if (!this.sources.whep || !whepAvailable()) {
        this.fallBackToHls("it is not available for this stream");
        return;
      }
      this.engine = new WhepEngine(this.video, this.sources.whep, {
        onFatal: callbacks.onFatal,
        onFallback: (reason) => this.fallBackToHls(reason),
        onLevels: callbacks.onLevels,
        onLevel: callbacks.onLevel,
        renditions: this.sources.whepRenditions,
      });
    } else {
      if (!mpegtsAvailable()) {
        this.setNotice("Low-latency mode needs Media Source Extensions; using HLS.");
        this.load("hls");
        return;
      }
      this.engine = new FlvEngine(this.video, this.sources[mode], callbacks);
    }
    this.root.dataset.engine = this.engine.kind;
    this.root.dataset.mode = mode;
    this.autoplay();
  }

  /** The renditions WHEP offers now (the channel's playback.whep_renditions). */
  setWhepRenditions(renditions) {
    this.sources.whepRenditions = renditions || [];
    if (this.engine && this.engine.kind === "webrtc") this.engine.setRenditions(this.sources.whepRenditions);
  }

  /** WebRTC could not play (`reason`): (LL-)HLS now, for this page only (the choice is kept). */
  fallBackToHls(reason) {
    this.load(this.sources["ll-hls"] ? "ll-hls" : "hls");
    this.setNotice(`Real-time playback failed (${reason}); using HLS.`);
  }

  async autoplay() {
    try {
      await this.video.play();
    } catch (error) {
      if (error.name !== "NotAllowedError") return;
      // Browsers allow muted autoplay only: start muted and invite a click to unmute.
      this.video.muted = true;
      this.setNotice("Muted: press m or the speaker to unmute.");
      try {
        await this.video.play();
      } catch {
        this.syncButtons();
      }
    }
  }

  stopEngine() {
    if (this.engine) {
      this.engine.destroy();
      this.engine = null;
    }
    this.endPlaybackSession();
    delete this.root.dataset.engine;
  }

  /** Live HLS: a playback session of this player's own; the master URL that carries it. */
  startPlaybackSession(master) {
    this.playbackSession = openPlaybackSession(master);
    return this.playbackSession.url;
  }

  endPlaybackSession() {
    if (!this.playbackSession) return;
    this.playbackEnded = this.playbackSession.end();
    this.playbackSession = null;
  }

  fail(reason, status) {
    // A live stream that ended or is not there (404) goes to the slate; the page decides
    // when to try again. Anything else is shown as it is.
    if (this.live) {
      this.stopEngine();
      this.onOffline(reason, status);
    } else {
      this.setNotice("Playback failed: " + reason);
    }
  }

  setMode(mode) {
    localStorage.setItem(MODE_KEY, mode);
    this.load(mode);
  }

  showLevels(levels, selected = -1) {
    const options = [el("option", { value: "-1" }, "Auto")];
    const sorted = [...levels].sort((a, b) => b.height - a.height || b.bitrate - a.bitrate);
    for (const level of sorted) {
      const label = level.source ? `Source (${level.label})` : level.label;
      options.push(el("option", { value: String(level.index), dataset: { height: level.height } }, label));
    }
    this.quality.replaceChildren(...options);
    this.quality.disabled = levels.length < 2;
    this.quality.value = String(selected);
  }

  showCurrentLevel(level) {
    if (!level || !this.engine) return;
    this.root.dataset.level = level.label;
    const auto = this.quality.querySelector('option[value="-1"]');
    if (auto) auto.textContent = this.engine.auto ? `Auto (${level.label})` : "Auto";
  }

  setQuality(index) {
    if (!this.engine) return;
    this.engine.setLevel(index);
  }

  // --- controls ----------------------------------------------------------------------

  togglePlay() {
    if (this.video.paused) {
      if (this.live && this.engine) this.jumpToLive();
      this.video.play().catch(() => {});
    } else {
      this.video.pause();
    }
  }

  toggleMute() {
    this.video.muted = !this.video.muted;
    if (!this.video.muted && this.video.volume === 0) this.video.volume = 0.5;
    if (!this.video.muted) this.setNotice("");
  }

  setVolume(value) {
    const volume = Math.min(1, Math.max(0, value));
    this.video.volume = volume;
    this.video.muted = volume === 0;
    localStorage.setItem(VOLUME_KEY, String(volume));
  }

  skip(seconds) {
    if (this.live) return;
    const duration = this.video.duration || 0;
    this.video.currentTime = Math.min(duration, Math.max(0, this.video.currentTime + seconds));
  }

  jumpToLive() {
    if (this.engine) this.engine.jumpToLive();
  }

  async togglePip() {
    if (!document.pictureInPictureEnabled) return;
    try {
      if (document.pictureInPictureElement) await document.exitPictureInPicture();
      else await this.video.requestPictureInPicture();
    } catch (error) {
      this.setNotice("Picture in picture: " + error.message);
    }
  }

  async toggleFullscreen() {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await this.root.requestFullscreen();
    } catch (error) {
      this.setNotice("Fullscreen: " + error.message);
    }
  }

  setNotice(text) {
    this.notice.textContent = text;
    this.notice.hidden = !text;
  }

  setViewers(count) {
    this.viewers.textContent = `${count} watching`;
    this.viewers.setAttribute("aria-label", `${count} viewers`);
  }

  showSlate(content) {
    this.stopEngine();
    this.root.classList.add("offline");
    this.slate.replaceChildren(...content);
    this.slate.hidden = false;
  }

  syncButtons() {
    const video = this.video;
    const paused = video.paused;
    this.root.classList.toggle("paused", paused);
    this.playButton.replaceChildren(icon(paused ? "play" : "pause"));
    this.playButton.setAttribute("aria-label", paused ? "Play (k)" : "Pause (k)");
    const muted = video.muted || video.volume === 0;
    this.muteButton.replaceChildren(icon(muted ? "muted" : "volume"));
    this.muteButton.setAttribute("aria-label", muted ? "Unmute (m)" : "Mute (m)");
    this.muteButton.setAttribute("aria-pressed", String(muted));
    this.volume.value = String(muted ? 0 : video.volume);
  }

  syncTime() {
    if (this.live) return;
    const duration = Number.isFinite(this.video.duration) ? this.video.duration : 0;
    this.seek.max = String(duration);
    if (document.activeElement !== this.seek) this.seek.value = String(this.video.currentTime);
    this.time.textContent = `${formatDuration(this.video.currentTime)} / ${formatDuration(duration)}`;
  }

  tick() {
    if (!this.live) {
      this.syncTime();
      return;
    }
    if (!this.engine) return;
    const behind = this.engine.behindLive();
    const atEdge = behind <= LIVE_SLACK_S[this.engine.kind];
    // How far the picture is from the newest media (LL-HLS: hls.js's latency estimate),
    // shown beside LIVE at the edge; " behind" and the figure are dropped in a narrow
    // player (site.css), leaving "LIVE" or "12 s".
    const latency = this.engine.latency();
    const figure = latency === null ? "" : ` ${latency.toFixed(1)} s`;
    if (atEdge) this.liveButton.replaceChildren("LIVE", el("span", { class: "ctl-long latency" }, figure));
    else this.liveButton.replaceChildren(`${Math.round(behind)} s`, el("span", { class: "ctl-long" }, " behind"));
    this.liveButton.classList.toggle("at-edge", atEdge);
    const label = atEdge ? `At the live edge${latency === null ? "" : `, ${latency.toFixed(1)} seconds behind the stream`}` : `${Math.round(behind)} seconds behind live; jump to live (l)`;
    this.liveButton.setAttribute("aria-label", label);
    this.root.dataset.behind = behind.toFixed(1);
    this.root.dataset.latency = latency === null ? "" : latency.toFixed(2);
  }

  // --- seek preview (VOD) ------------------------------------------------------------

  async loadPreview(url) {
    try {
      const response = await fetch(url);
      if (!response.ok) return;
      this.previewCues = parseSpriteVtt(await response.text(), new URL(url, location.href));
    } catch {
      this.previewCues = [];
    }
  }

  showPreview(event) {
    const duration = this.video.duration;
    if (!this.previewCues.length || !Number.isFinite(duration)) return;
    const rect = this.seek.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
    const time = fraction * duration;
    const cue = this.previewCues.find((c) => time >= c.start && time < c.end) || this.previewCues.at(-1);
    const image = this.previewBox.firstChild;
    image.style.backgroundImage = `url("${cue.image}")`;
    image.style.backgroundPosition = `-${cue.x}px -${cue.y}px`;
    image.style.width = cue.w + "px";
    image.style.height = cue.h + "px";
    this.previewBox.lastChild.textContent = formatDuration(time);
    const left = Math.min(rect.width - cue.w / 2, Math.max(cue.w / 2, fraction * rect.width));
    this.previewBox.style.left = left + "px";
    this.previewBox.hidden = false;
  }

  destroy() {
    clearInterval(this.timer);
    clearTimeout(this.hideControls);
    document.removeEventListener("keydown", this.onKey);
    this.stopEngine();
  }
}

function parseTimestamp(text) {
  const parts = text.trim().split(":").map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}

/** WebVTT cues "start --> end" + "sprite.jpg#xywh=x,y,w,h" as {start, end, image, x, y, w, h}. */
export function parseSpriteVtt(text, base) {
  const cues = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i += 1) {
    const match = lines[i].match(/^([\d:.]+)\s+-->\s+([\d:.]+)/);
    if (!match) continue;
    const target = (lines[i + 1] || "").trim();
    const [file, fragment] = target.split("#xywh=");
    if (!fragment) continue;
    const [x, y, w, h] = fragment.split(",").map(Number);
    cues.push({
      start: parseTimestamp(match[1]),
      end: parseTimestamp(match[2]),
      image: new URL(file, base).href,
      x,
      y,
      w,
      h,
    });
  }
  return cues;
}
