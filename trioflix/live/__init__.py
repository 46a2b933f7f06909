"""Live streaming, grouped by what each part does; the arrows point one way, into ``channel``.

- ``channel``: the core. Registry, live streams, fan-out, viewer lifecycle, webhooks, metrics.
- ``rtmp``: the RTMP listener (publish and play) and the publishers' read clock.
- ``hls``: live HLS output, the ABR ladder and HLS viewer sessions.
- ``recording``: every live session recorded into the video library.
"""
