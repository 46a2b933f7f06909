"""Packet: the FLV tag is encoded lazily, but means what the eager encoding meant, and
the packet keeps its body once however many viewers were sent it."""

from __future__ import annotations

import gc

from protocols import flv
from trioflix.live.channel.packets import Kind, Packet, flv_bytes, metadata_packet


def test_flv_tag_is_encoded_once_on_first_use() -> None:
    packet = Packet(Kind.VIDEO, 0x1_2345_6789, b"\x17\x01\x00\x00\x00body", keyframe=True)
    assert packet.size == len(packet.flv_tag)  # size does not need the tag
    tag = packet.flv_tag
    assert tag == flv.encode_tag_fields(9, 0x2345_6789, packet.payload)  # 32-bit wrap
    parts = packet.flv_parts
    assert packet.flv_parts is parts
    assert parts[1] is packet.payload
    assert flv_bytes([packet, packet]) == tag + tag
    assert flv_bytes([packet]) == tag


def test_a_packet_sent_keeps_its_body_once() -> None:
    # A GOP cache keeps its packets for up to a GOP after FLV viewers were sent them.
    payload = b"\x27\x01\x00\x00\x00" + bytes(1 << 20)
    packet = Packet(Kind.VIDEO, 40, payload)
    sent = flv_bytes([packet]) + packet.flv_tag
    assert len(sent) == 2 * packet.size
    reachable = [packet, *gc.get_referents(packet)]
    reachable += [item for obj in reachable if isinstance(obj, tuple) for item in obj]
    held = sum(len(obj) for obj in {id(o): o for o in reachable}.values() if type(obj) is bytes)
    assert held < len(payload) + 100


def test_equality_and_hash_ignore_properties_and_the_tag() -> None:
    a = metadata_packet({"width": 640.0}, timestamp=5, generation=2)
    b = Packet(Kind.SCRIPT, 5, a.payload, config=True, properties={}, generation=2)
    assert a == b and hash(a) == hash(b)
    _ = a.flv_tag  # encoded on one side only
    assert a == b
    assert a != metadata_packet({"width": 640.0}, timestamp=5, generation=3)
    assert a != (a.kind, a.timestamp, a.payload)
    assert "properties={'width': 640.0}" in repr(a)
    assert "flv_tag" not in repr(a)
