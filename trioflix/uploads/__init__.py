"""Resumable uploads (tus 1.0.0): records, data files, locks, transfers, housekeeping.

The HTTP side is :mod:`trioflix.api.uploads`; the protocol rules are
:mod:`protocols.tus`. A finished upload becomes a video through a processing
job (:mod:`trioflix.uploads.completion`, :mod:`trioflix.media.processing`).
"""
