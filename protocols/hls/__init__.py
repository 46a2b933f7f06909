"""MPEG-TS muxing and HLS playlists: sans-IO, frames in, segment bytes and playlist text out.

- :class:`Segmenter`: FLV/RTMP audio/video tags in, :class:`SegmentStarted` /
  :class:`SegmentFinished` events (with the segment's MPEG-TS bytes) out.
- :class:`TSMuxer`: the lower-level muxer the segmenter drives.
- :class:`MediaPlaylist`, :func:`render_vod_playlist`, :func:`render_master_playlist`.
- :class:`TimestampUnwrapper`: RTMP's 32-bit timestamps to 64-bit ones.
- :func:`to_annex_b`: a length-prefixed access unit as an Annex B byte stream (also
  what WebRTC's H.264 packetiser takes).
- Low-Latency HLS: :class:`PartCutter` decides where parts and segments end,
  :class:`LLPlaylist` lists them (parts, preload hint, delta updates) and decides
  blocking reloads (:class:`ReloadRequest`, :class:`Reload`); :class:`PartFollower`
  cuts another rendition's parts where the leading one's start (:class:`PartStart`),
  and names the parts it has no media for (:class:`GapPart`), which the playlist lists
  as GAP parts.
"""

from __future__ import annotations

from ._alignment import GapPart as GapPart
from ._alignment import PartFollower as PartFollower
from ._alignment import PartStart as PartStart
from ._errors import HLSError as HLSError
from ._llplaylist import LL_PLAYLIST_VERSION as LL_PLAYLIST_VERSION
from ._llplaylist import LLPlaylist as LLPlaylist
from ._llplaylist import Reload as Reload
from ._llplaylist import ReloadRequest as ReloadRequest
from ._llplaylist import RenditionReport as RenditionReport
from ._nal import to_annex_b as to_annex_b
from ._parts import PartCutter as PartCutter
from ._parts import PartEnded as PartEnded
from ._playlist import DEFAULT_WINDOW_SIZE as DEFAULT_WINDOW_SIZE
from ._playlist import BitrateMeter as BitrateMeter
from ._playlist import MediaPlaylist as MediaPlaylist
from ._playlist import PlaylistSegment as PlaylistSegment
from ._playlist import Variant as Variant
from ._playlist import render_master_playlist as render_master_playlist
from ._playlist import render_vod_playlist as render_vod_playlist
from ._segmenter import DEFAULT_MAX_EXTRA_MS as DEFAULT_MAX_EXTRA_MS
from ._segmenter import DEFAULT_MAX_GAP_MS as DEFAULT_MAX_GAP_MS
from ._segmenter import DEFAULT_MAX_SEGMENT_BYTES as DEFAULT_MAX_SEGMENT_BYTES
from ._segmenter import DEFAULT_TARGET_DURATION_MS as DEFAULT_TARGET_DURATION_MS
from ._segmenter import Segmenter as Segmenter
from ._segmenter import SegmentEvent as SegmentEvent
from ._segmenter import SegmentFinished as SegmentFinished
from ._segmenter import SegmentStarted as SegmentStarted
from ._timestamps import TimestampUnwrapper as TimestampUnwrapper
from ._ts import AUDIO_PID as AUDIO_PID
from ._ts import DEFAULT_TIMESTAMP_OFFSET_MS as DEFAULT_TIMESTAMP_OFFSET_MS
from ._ts import PMT_PID as PMT_PID
from ._ts import STREAM_TYPE_AAC as STREAM_TYPE_AAC
from ._ts import STREAM_TYPE_H264 as STREAM_TYPE_H264
from ._ts import STREAM_TYPE_HEVC as STREAM_TYPE_HEVC
from ._ts import TS_PACKET_SIZE as TS_PACKET_SIZE
from ._ts import VIDEO_PID as VIDEO_PID
from ._ts import TSMuxer as TSMuxer
