"""FLV tags and the codec records carried in them: sans-IO, bytes in, values out.

- File framing: :class:`FLVReader` (incremental), :func:`encode_header`, :func:`encode_tag`
  (:func:`encode_tag_fields` without an :class:`FLVTag`; :func:`encode_tag_envelope`
  its header and trailer alone).
- Tag bodies (also RTMP audio/video message bodies): :func:`parse_video_tag`,
  :func:`parse_audio_tag` and their inverses; :func:`classify_video_tag` and
  :func:`classify_audio_tag` read only the flags (per-packet hot paths).
- Codec records: :func:`parse_avc_config` (and :func:`encode_avc_config`, with
  :func:`split_annex_b` to take the parameter sets out of an Annex B stream),
  :func:`parse_hevc_config`, :func:`parse_audio_specific_config`, and :func:`parse_h264_sps` and
  :func:`parse_hevc_sps_size` for width/height.
- Enhanced RTMP v2 multitrack bodies: :func:`parse_multitrack_video`,
  :func:`parse_multitrack_audio` and their inverses; :func:`single_track_video` and
  :func:`single_track_audio` turn one track into a plain body.
"""

from __future__ import annotations

from ._aac import AAC_SAMPLE_RATES as AAC_SAMPLE_RATES
from ._aac import AudioSpecificConfig as AudioSpecificConfig
from ._aac import parse_audio_specific_config as parse_audio_specific_config
from ._avc import H264SPS as H264SPS
from ._avc import AVCDecoderConfig as AVCDecoderConfig
from ._avc import avc_codec_string as avc_codec_string
from ._avc import encode_avc_config as encode_avc_config
from ._avc import parse_avc_config as parse_avc_config
from ._avc import parse_h264_sps as parse_h264_sps
from ._avc import split_annex_b as split_annex_b
from ._errors import FLVError as FLVError
from ._file import DEFAULT_MAX_TAG_SIZE as DEFAULT_MAX_TAG_SIZE
from ._file import NEED_DATA as NEED_DATA
from ._file import FLVEnd as FLVEnd
from ._file import FLVHeader as FLVHeader
from ._file import FLVReader as FLVReader
from ._file import FLVTag as FLVTag
from ._file import NeedData as NeedData
from ._file import TagType as TagType
from ._file import encode_header as encode_header
from ._file import encode_tag as encode_tag
from ._file import encode_tag_envelope as encode_tag_envelope
from ._file import encode_tag_fields as encode_tag_fields
from ._hevc import HEVCDecoderConfig as HEVCDecoderConfig
from ._hevc import HEVCNalArray as HEVCNalArray
from ._hevc import HEVCNalType as HEVCNalType
from ._hevc import parse_hevc_config as parse_hevc_config
from ._hevc_sps import parse_hevc_sps_size as parse_hevc_sps_size
from ._multitrack import AudioPacketType as AudioPacketType
from ._multitrack import AvMultitrackType as AvMultitrackType
from ._multitrack import MultitrackAudioTag as MultitrackAudioTag
from ._multitrack import MultitrackVideoTag as MultitrackVideoTag
from ._multitrack import TrackPacket as TrackPacket
from ._multitrack import encode_multitrack_audio as encode_multitrack_audio
from ._multitrack import encode_multitrack_video as encode_multitrack_video
from ._multitrack import is_multitrack_audio as is_multitrack_audio
from ._multitrack import is_multitrack_video as is_multitrack_video
from ._multitrack import parse_multitrack_audio as parse_multitrack_audio
from ._multitrack import parse_multitrack_video as parse_multitrack_video
from ._multitrack import single_track_audio as single_track_audio
from ._multitrack import single_track_video as single_track_video
from ._tags import AACPacketType as AACPacketType
from ._tags import AudioTag as AudioTag
from ._tags import AVCPacketType as AVCPacketType
from ._tags import ExVideoTag as ExVideoTag
from ._tags import FrameType as FrameType
from ._tags import SoundFormat as SoundFormat
from ._tags import VideoCodecId as VideoCodecId
from ._tags import VideoPacketType as VideoPacketType
from ._tags import VideoTag as VideoTag
from ._tags import classify_audio_tag as classify_audio_tag
from ._tags import classify_video_tag as classify_video_tag
from ._tags import encode_audio_tag as encode_audio_tag
from ._tags import encode_video_tag as encode_video_tag
from ._tags import parse_audio_tag as parse_audio_tag
from ._tags import parse_video_tag as parse_video_tag
