"""WebRTC playback (WHEP): the channel's H.264 passed through, its AAC as Opus.

aiortc does the WebRTC (ICE, DTLS, SRTP, RTP packetisation) in a trio-asyncio
loop of the server process (docs/webrtc.md); it is imported with the first
session, not with the server.
"""
