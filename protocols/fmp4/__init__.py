"""Fragmented MP4 (ISO/IEC 14496-12, the CMAF layout of ISO/IEC 23000-19) for LL-HLS:
sans-IO, FLV/RTMP samples in, initialization segments and media fragments out.

- :func:`init_segment`: ``ftyp`` + ``moov`` for an AVC or HEVC video track
  (``avc1``/``avcC``, ``hvc1``/``hvcC``) and/or an AAC track (``mp4a``/``esds``).
- :class:`Fragmenter`: video access units and AAC frames in, a :class:`Fragment`
  (``moof`` + ``mdat`` and its sequence number, decode times, duration, independence)
  out whenever the caller cuts.
- :func:`encode_box`, :func:`encode_full_box`: the box framing.
"""

from __future__ import annotations

from ._boxes import encode_box as encode_box
from ._boxes import encode_full_box as encode_full_box
from ._errors import FMP4Error as FMP4Error
from ._fragmenter import DEFAULT_MAX_FRAGMENT_BYTES as DEFAULT_MAX_FRAGMENT_BYTES
from ._fragmenter import Fragment as Fragment
from ._fragmenter import Fragmenter as Fragmenter
from ._fragmenter import TrackRun as TrackRun
from ._init import AUDIO_TRACK_ID as AUDIO_TRACK_ID
from ._init import VIDEO_TIMESCALE as VIDEO_TIMESCALE
from ._init import VIDEO_TRACK_ID as VIDEO_TRACK_ID
from ._init import VideoConfig as VideoConfig
from ._init import init_segment as init_segment
