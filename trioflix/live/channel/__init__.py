"""The channel core: who is live, one publisher's media fanned out to every viewer.

The registry (one publisher per channel, reconnect grace, takeover), each live
stream's packets, timeline and bounded viewer queues, the viewer lifecycle shared by
every FLV playout path, webhooks and live metrics. The transports and outputs
(``live.rtmp``, ``live.hls``, ``live.recording``) import from here; nothing here
imports them.
"""
