"""Why an upload stopped, and the exit status that tells the shell."""

from __future__ import annotations

__all__ = [
    "EXIT_AUTH",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "EXIT_VIDEO_FAILED",
    "AuthError",
    "UploadError",
]

EXIT_ERROR = 1  # the upload could not be finished (it can be resumed by running again)
EXIT_USAGE = 2  # as argparse: bad flags or arguments
EXIT_AUTH = 3  # the server refused the credentials
EXIT_VIDEO_FAILED = 4  # --wait: the upload arrived, but the video could not be made
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


class UploadError(Exception):
    """The upload cannot go on; the message is for the user.

    Attributes:
        exit_code: The process exit status to report.
    """

    exit_code = EXIT_ERROR


class AuthError(UploadError):
    """The server refused the token or the name and password."""

    exit_code = EXIT_AUTH
