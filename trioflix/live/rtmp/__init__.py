"""RTMP on the socket: the listener that takes publishers and players, and its read clock.

Every byte goes through the sans-IO :mod:`protocols.rtmp`; this package does the
I/O and hands media to the channel core (``live.channel``).
"""
