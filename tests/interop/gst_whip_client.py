"""A WHIP publisher on GStreamer's WebRTC stack, for tests: ``python3 gst_whip_client.py URL KEY``.

GStreamer's ``webrtcbin`` (ICE by libnice, DTLS and SRTP by GStreamer's own elements:
an implementation independent of aiortc's) sends a test picture, x264 without B-frames
(``tune=zerolatency``), and a sine as Opus. This script does what RFC 9725 leaves to a
WHIP client: it POSTs the offer, once every local candidate is in it (the server takes
no trickled ones), with the stream key as the bearer token, applies the answer, and
DELETEs the session's URL (``Location``) when told to stop (SIGTERM). It prints
``published <session URL>`` once answered, or ``refused <status> <body>``.

It runs under the system's Python with PyGObject (``python3-gi`` and the GStreamer
typelibs of ``gir1.2-gst-plugins-bad-1.0``), not in the project's virtual environment.
GStreamer's own WHIP elements are not used: ``whipsink`` and ``whipclientsink`` are in
gst-plugins-rs, which Debian 12 does not package (docs/webrtc.md).
"""

from __future__ import annotations

import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

# PyGObject: the system's python3-gi, absent from the project's virtual environment.
import gi  # type: ignore[import-not-found]

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # type: ignore[import-not-found]  # noqa: E402

PIPELINE = (
    "webrtcbin name=send bundle-policy=max-bundle"
    " videotestsrc is-live=true pattern=ball"
    " ! video/x-raw,width=320,height=180,framerate=30/1 ! videoconvert"
    " ! x264enc tune=zerolatency speed-preset=ultrafast bframes=0 key-int-max=30"
    " ! video/x-h264,profile=constrained-baseline"
    " ! rtph264pay config-interval=-1 aggregate-mode=zero-latency"
    " ! application/x-rtp,media=video,encoding-name=H264,payload=96 ! send."
    " audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc"
    " ! rtpopuspay ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! send."
)
GATHER_TIMEOUT_MS = 5000  # libnice gathers host candidates in well under a second
HTTP_TIMEOUT_S = 20


class Publisher:
    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.key = key
        self.location: str | None = None
        self.offered = False
        self.loop = GLib.MainLoop()
        self.pipeline = Gst.parse_launch(PIPELINE)
        self.webrtc = self.pipeline.get_by_name("send")
        for transceiver in self._transceivers():
            transceiver.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        self.webrtc.connect("on-negotiation-needed", self._negotiate)
        self.webrtc.connect("notify::ice-gathering-state", self._gathering)

    def _transceivers(self) -> list[Any]:
        found = []
        index = 0
        while (transceiver := self.webrtc.emit("get-transceiver", index)) is not None:
            found.append(transceiver)
            index += 1
        return found

    def _negotiate(self, _webrtc: object) -> None:
        promise = Gst.Promise.new_with_change_func(self._offer_made, None)
        self.webrtc.emit("create-offer", None, promise)

    def _offer_made(self, promise: Any, _data: object) -> None:
        # The reply is kept while its offer is used: PyGObject frees a structure whose
        # wrapper goes away, and the offer's value with it.
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        self.webrtc.emit("set-local-description", offer, None)
        GLib.timeout_add(GATHER_TIMEOUT_MS, self._post)

    def _gathering(self, _webrtc: object, _spec: object) -> None:
        state = self.webrtc.get_property("ice-gathering-state")
        if state == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            GLib.idle_add(self._post)

    def _post(self) -> bool:
        if self.offered:
            return False
        self.offered = True
        offer = self.webrtc.get_property("local-description").sdp.as_text()
        request = urllib.request.Request(
            self.url,
            data=offer.encode(),
            method="POST",
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
                answer = response.read().decode()
                self.location = urllib.parse.urljoin(self.url, response.headers["Location"])
        except urllib.error.HTTPError as exc:
            print("refused", exc.code, exc.read().decode(errors="replace"), flush=True)
            self.loop.quit()
            return False
        _, message = GstSdp.SDPMessage.new_from_text(answer)
        description = GstWebRTC.WebRTCSessionDescription.new(
            GstWebRTC.WebRTCSDPType.ANSWER, message
        )
        self.webrtc.emit("set-remote-description", description, None)
        print("published", self.location, flush=True)
        return False

    def stop(self) -> bool:
        if self.location is not None:
            request = urllib.request.Request(self.location, method="DELETE")
            try:
                urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S).close()
            except OSError as exc:
                print("delete failed", exc, flush=True)
        self.loop.quit()
        return False

    def run(self) -> None:
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, self.stop)
        self.pipeline.set_state(Gst.State.PLAYING)
        try:
            self.loop.run()
        finally:
            self.pipeline.set_state(Gst.State.NULL)


if __name__ == "__main__":
    Gst.init(None)
    Publisher(sys.argv[1], sys.argv[2]).run()
