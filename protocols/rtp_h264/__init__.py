"""H.264 RTP payloads (RFC 6184), sans-IO: FU-A fragments cut to one size.

A NAL unit too large for one packet is sent in FU-A fragments. A packetiser that
shares the bytes out as evenly as it can (aiortc's) makes some fragments a byte
longer than the others; :func:`even_fragments` cuts each unit's fragments again,
every one of the longest size but the last, which is shorter: what UDP
segmentation offload sends in one system call (a run of datagrams of one size, the
last possibly shorter), so that a frame costs a WebRTC viewer one or two calls
instead of one per packet.
"""

from __future__ import annotations

from ._fu_a import even_fragments as even_fragments
