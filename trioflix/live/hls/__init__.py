"""Live HLS: each session's renditions (source passthrough and the ABR ladder), playlists
and viewer sessions.

The hub runs one writer session per live session; the ladder transcodes in a child
process (``ladder_process``) and hands segments back. Media comes from the channel
core (``live.channel``).
"""
