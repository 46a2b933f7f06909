// WebRTC playback over WHEP (docs/webrtc.md): the player's real-time engine.
//
// One RTCPeerConnection that only receives: the offer asks for H.264 video and Opus
// audio, carries every local candidate (the offer waits for gathering, at most
// GATHER_TIMEOUT_MS: the server takes trickled ones too, but one request is simpler
// than a PATCH per candidate, and host candidates come at once), and is POSTed to the
// channel's WHEP URL; the SDP answer connects it. The ICE servers come from the
// endpoint's Link headers (its OPTIONS answer), so a viewer behind NAT gathers
// through the same STUN/TURN as the server. When WebRTC cannot start (no answer,
// a stream it cannot carry, ICE not connected within CONNECT_TIMEOUT_MS) the engine
// calls onFallback and the player plays HLS instead; when a connection that played
// drops, onFatal("ended") sends the page back to watching the channel's state.
//
// Renditions: the server plays the source by default and a ladder rung (or a multitrack
// publisher's track) when the offer is POSTed to the endpoint with ?rendition=NAME; the
// channel's playback object lists them (whep_renditions). They are the quality menu's
// levels here: choosing one makes a new connection at that rendition (the old session
// is DELETEd first); Auto is the source.

const GATHER_TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 10000;
const LINK_ICE = /<([^>]+)>\s*;\s*rel="ice-server"([^,]*)/g;

/** Whether this browser can play over WebRTC at all. */
export function whepAvailable() {
  return typeof RTCPeerConnection === "function" && typeof MediaStream === "function";
}

function linkParam(params, name) {
  const match = new RegExp(`${name}="((?:[^"\\\\]|\\\\.)*)"`).exec(params);
  return match ? match[1].replace(/\\(.)/g, "$1") : undefined;
}

/** The ICE servers of `Link: <url>; rel="ice-server"; username=...` headers. */
export function iceServersFromLinks(header) {
  const servers = [];
  for (const [, url, params] of (header || "").matchAll(LINK_ICE)) {
    const server = { urls: url };
    const username = linkParam(params, "username");
    if (username !== undefined) {
      server.username = username;
      server.credential = linkParam(params, "credential") || "";
    }
    servers.push(server);
  }
  return servers;
}

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => pc.iceGatheringState === "complete" && done();
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

export class WhepEngine {
  constructor(video, url, { onFatal, onFallback, onLevels = () => {}, onLevel = () => {}, renditions = [] }) {
    this.kind = "webrtc";
    this.video = video;
    this.url = url;
    this.onFatal = onFatal;
    this.onFallback = onFallback;
    this.onLevels = onLevels;
    this.onLevel = onLevel;
    this.renditions = renditions || [];
    this.rendition = null; // the chosen rendition's name; null: the server's default, the source
    this.session = null; // the session's URL, for DELETE
    this.pc = null;
    this.closed = false;
    this.played = false;
    this.onPageHide = () => this.leave();
    window.addEventListener("pagehide", this.onPageHide);
    this.onLevels(this.levels(), this.currentLevel);
    this.start();
  }

  /** The endpoint for the chosen rendition. */
  endpoint() {
    if (!this.rendition) return this.url;
    const url = new URL(this.url, location.href);
    url.searchParams.set("rendition", this.rendition);
    return url.href;
  }

  /** The channel's renditions changed (a rung started or stopped): the menu follows. */
  setRenditions(renditions) {
    this.renditions = renditions || [];
    this.onLevels(this.levels(), this.currentLevel);
  }

  async start() {
    try {
      const preflight = await fetch(this.url, { method: "OPTIONS" });
      const iceServers = iceServersFromLinks(preflight.headers.get("Link"));
      if (this.closed) return;
      const pc = (this.pc = new RTCPeerConnection({ iceServers }));
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addTransceiver("audio", { direction: "recvonly" });
      const stream = new MediaStream();
      pc.ontrack = (event) => {
        stream.addTrack(event.track);
        if (this.video.srcObject === stream) return;
        // A new source pauses the element: a reconnection (another rendition) plays on
        // if the viewer was playing.
        const paused = this.video.paused;
        this.video.srcObject = stream;
        if (!paused) this.video.play().catch(() => {});
      };
      pc.onconnectionstatechange = () => this.stateChanged();
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const answer = await fetch(this.endpoint(), {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: pc.localDescription.sdp,
      });
      if (pc !== this.pc) {
        pc.close(); // a connection replaced meanwhile (another rendition chosen)
        return;
      }
      if (this.closed) return;
      const body = answer.status === 201 ? null : await answer.json().catch(() => null);
      const code = body && body.error && body.error.code;
      if (this.rendition && (code === "no_such_rendition" || code === "rendition_starting")) {
        // The rung stopped (or is not ready yet): the source instead.
        this.setLevel(-1);
        return;
      }
      if (answer.status === 404) {
        this.onFatal("ended", 404);
        return;
      }
      if (answer.status !== 201) {
        this.fallBack((body && body.error && body.error.message) || `the server answered ${answer.status}`);
        return;
      }
      this.session = new URL(answer.headers.get("Location"), location.href).href;
      await pc.setRemoteDescription({ type: "answer", sdp: await answer.text() });
      this.connectTimer = setTimeout(() => {
        if (pc.connectionState !== "connected") this.fallBack("it could not connect");
      }, CONNECT_TIMEOUT_MS);
    } catch (error) {
      this.fallBack(error.message || String(error));
    }
  }

  stateChanged() {
    if (this.closed) return;
    const state = this.pc.connectionState;
    if (state === "connected") {
      this.played = true;
      clearTimeout(this.connectTimer);
      const levels = this.levels();
      this.onLevel(levels[this.currentLevel] || levels.find((level) => level.source));
    } else if (state === "failed" || state === "closed") {
      // Before it ever played, ICE failed (UDP blocked): HLS instead. After: the
      // stream ended or the network went; the page finds out which.
      if (this.played) this.onFatal("ended");
      else this.fallBack("it could not connect");
    }
  }

  fallBack(reason) {
    if (this.closed) return;
    this.destroy();
    this.onFallback(reason);
  }

  /** Tell the server this viewer left (also as the page goes away). */
  leave() {
    if (!this.session) return;
    fetch(this.session, { method: "DELETE", keepalive: true }).catch(() => {});
    this.session = null;
  }

  levels() {
    return this.renditions.map((rendition, index) => ({
      index,
      name: rendition.name,
      height: rendition.height || 0,
      bitrate: 0,
      source: rendition.name === "source",
      label: rendition.height ? `${rendition.height}p` : rendition.name,
    }));
  }

  get auto() {
    return this.rendition === null;
  }

  get currentLevel() {
    return this.renditions.findIndex((rendition) => rendition.name === this.rendition);
  }

  /** Play level `index` (-1 or the source: the server's default): a new connection. */
  setLevel(index) {
    const level = this.levels()[index];
    const rendition = level && !level.source ? level.name : null;
    if (rendition === this.rendition) return;
    this.rendition = rendition;
    this.reconnect();
  }

  reconnect() {
    clearTimeout(this.connectTimer);
    this.leave();
    if (this.pc) {
      this.pc.onconnectionstatechange = null;
      this.pc.close();
      this.pc = null;
    }
    this.played = false;
    this.onLevels(this.levels(), this.currentLevel);
    this.start();
  }

  // The browser plays what arrives as it arrives: there is no buffer to be behind in.
  behindLive() {
    return 0;
  }

  // No figure to show beside LIVE: the browser does not say how far behind the encoder
  // a WebRTC picture is.
  latency() {
    return null;
  }

  jumpToLive() {}

  destroy() {
    this.closed = true;
    clearTimeout(this.connectTimer);
    window.removeEventListener("pagehide", this.onPageHide);
    this.leave();
    if (this.pc) this.pc.close();
    this.video.srcObject = null;
  }
}
