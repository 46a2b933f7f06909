// WebRTC playback over WHEP (docs/webrtc.md): the player's real-time engine.
//
// One RTCPeerConnection that only receives: the offer asks for H.264 video and Opus
// audio, carries every local candidate (the server takes no trickled ones, so the
// offer waits for gathering, at most GATHER_TIMEOUT_MS), and is POSTed to the
// channel's WHEP URL; the SDP answer connects it. The ICE servers come from the
// endpoint's Link headers (its OPTIONS answer), so a viewer behind NAT gathers
// through the same STUN/TURN as the server. When WebRTC cannot start (no answer,
// a stream it cannot carry, ICE not connected within CONNECT_TIMEOUT_MS) the engine
// calls onFallback and the player plays HLS instead; when a connection that played
// drops, onFatal("ended") sends the page back to watching the channel's state.

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
  constructor(video, url, { onFatal, onFallback }) {
    this.kind = "webrtc";
    this.video = video;
    this.url = url;
    this.onFatal = onFatal;
    this.onFallback = onFallback;
    this.session = null; // the session's URL, for DELETE
    this.pc = null;
    this.closed = false;
    this.played = false;
    this.onPageHide = () => this.leave();
    window.addEventListener("pagehide", this.onPageHide);
    this.start();
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
        if (this.video.srcObject !== stream) this.video.srcObject = stream;
      };
      pc.onconnectionstatechange = () => this.stateChanged();
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const answer = await fetch(this.url, {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: pc.localDescription.sdp,
      });
      if (this.closed) return;
      if (answer.status === 404) {
        this.onFatal("ended", 404);
        return;
      }
      if (answer.status !== 201) {
        const body = await answer.json().catch(() => null);
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
    return [];
  }

  get auto() {
    return true;
  }

  get currentLevel() {
    return -1;
  }

  setLevel() {}

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
