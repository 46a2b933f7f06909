"""Live streaming: RTMP ingest, per-channel fan-out, FLV playout (RTMP, HTTP-FLV, WS-FLV)."""
