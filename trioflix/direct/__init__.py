"""Routes served on the socket itself, in front of hypercorn: chat websockets and live FLV."""
