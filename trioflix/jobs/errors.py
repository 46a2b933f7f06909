"""The error a job function raises when its input can never succeed."""

from __future__ import annotations

__all__ = ["PermanentJobError"]


class PermanentJobError(Exception):
    """The job's input can never succeed (e.g. the file is not a video); the message says why.

    Raised in the child process; the job fails at once, without retries.
    """
