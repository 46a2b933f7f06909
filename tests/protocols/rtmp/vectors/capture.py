"""Throwaway capture tool for the RTMP vectors (not collected by pytest).

``python capture.py publish OUT.bin`` listens on 127.0.0.1:19350, answers one
publisher with protocols.rtmp (deterministic handshake randomness, seed 2) and
writes every byte the client sent to OUT.bin. ``python capture.py play IN.bin``
serves the media found in a publish capture to one player, which checks that a
real client accepts our server's output (ffmpeg validates the digest S1/S2 when
playing). See README.md for the exact command lines.
"""

from __future__ import annotations

import random
import socket
import sys

from protocols import rtmp

PORT = 19350


def serve(mode: str, path: str) -> None:
    media: list[rtmp.AudioData | rtmp.VideoData | rtmp.Metadata] = []
    if mode == "play":
        replay = rtmp.Connection(rtmp.SERVER, random_bytes=random.Random(2).randbytes)
        with open(path, "rb") as f:
            replay.receive_data(f.read())
        replay.receive_data(b"")
        while not isinstance(event := replay.next_event(), rtmp.ConnectionClosed):
            if isinstance(event, rtmp.Connect):
                replay.accept_connect()
            elif isinstance(event, rtmp.Publish):
                replay.accept_publish(event.stream_id)
            elif isinstance(event, rtmp.AudioData | rtmp.VideoData | rtmp.Metadata):
                media.append(event)
    listener = socket.create_server(("127.0.0.1", PORT))
    sock, _ = listener.accept()
    conn = rtmp.Connection(rtmp.SERVER, random_bytes=random.Random(2).randbytes)
    received = bytearray()
    while True:
        data = sock.recv(65536)
        received += data
        conn.receive_data(data)
        while (event := conn.next_event()) is not rtmp.NEED_DATA:
            print(type(event).__name__, file=sys.stderr)
            if isinstance(event, rtmp.Connect):
                conn.accept_connect()
            elif isinstance(event, rtmp.Publish):
                conn.accept_publish(event.stream_id)
            elif isinstance(event, rtmp.Play):
                conn.accept_play(event.stream_id)
                for item in media:
                    if isinstance(item, rtmp.Metadata):
                        conn.send_metadata(event.stream_id, dict(item.metadata), item.timestamp)
                    elif isinstance(item, rtmp.AudioData):
                        conn.send_media(event.stream_id, "audio", item.timestamp, item.payload)
                    else:
                        conn.send_media(event.stream_id, "video", item.timestamp, item.payload)
                if "--eof" in sys.argv:
                    conn.send_stream_eof(event.stream_id)
            elif isinstance(event, rtmp.ConnectionClosed):
                sock.close()
                if mode == "publish":
                    with open(path, "wb") as f:
                        f.write(received)
                return
        sock.sendall(conn.data_to_send())
        if not data:
            sock.close()
            return


if __name__ == "__main__":
    if "--port" in sys.argv:  # 19350 may be taken; e.g. --port 19351
        PORT = int(sys.argv[sys.argv.index("--port") + 1])
    serve(sys.argv[1], sys.argv[2])
