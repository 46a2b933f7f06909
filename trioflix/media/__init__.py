"""Video processing: the library's rows, and the pipeline that makes a video playable.

:mod:`trioflix.media.pipeline` (probe, thumbnails, sprite, HLS ladder) runs in a
child process; :mod:`trioflix.media.processing` is the job that drives it.
"""
