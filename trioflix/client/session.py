"""The API calls around an upload: logging in, and asking after the upload's video."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, NoReturn

import httpx

from trioflix.client.errors import AuthError, UploadError
from trioflix.client.retry import RETRY_STATUSES, Backoff, Transient, error_text, transient

if TYPE_CHECKING:
    from collections.abc import Callable

    from trioflix.client.arguments import Options

__all__ = ["CONNECT_TIMEOUT_S", "Session"]

CONNECT_TIMEOUT_S = 10.0
SSE_READ_TIMEOUT_S = 60.0  # the status stream sends a keep-alive every 15 s
STREAM_RECONNECT_S = 1.0  # pause before following a status stream that ended early again
_DONE = ("ready", "failed")  # the upload's states after which its video will not change


class Session:
    """One user's session with the server: the login token, and requests that retry.

    Args:
        options: The command's options (server, credentials, retries).
        client: The API's HTTP client (``base_url`` is the server).
        say: Shows a message to the user.
    """

    def __init__(self, options: Options, client: httpx.Client, say: Callable[[str], None]) -> None:
        self.options = options
        self.client = client
        self.say = say
        self.token = options.token
        self.backoff = Backoff(options.retries)

    def call(self, what: str, send: Callable[[], httpx.Response]) -> httpx.Response:
        """``send()`` until it gets an answer that is not transient.

        Raises:
            UploadError: The retries are used up (``what`` says what failed).
        """
        while True:
            try:
                response = send()
            except httpx.TransportError as exc:
                self.backoff.pause(Transient(f"{what}: {exc or type(exc).__name__}"), self.say)
                continue
            if response.status_code in RETRY_STATUSES:
                self.backoff.pause(transient(response, what), self.say)
                continue
            return response

    def auth(self) -> dict[str, str]:
        """The ``Authorization`` header of the logged-in user."""
        assert self.token is not None
        return {"Authorization": f"Bearer {self.token}"}

    def log_in(self) -> None:
        """Check the token, or log in with the name and password to get one.

        Raises:
            AuthError: The server refused the credentials.
            UploadError: Any other failure.
        """
        if self.token is not None:
            token = self.token
            response = self.call(
                "checking the token",
                lambda: self.client.get(
                    "/api/auth/me", headers={"Authorization": f"Bearer {token}"}
                ),
            )
            if response.status_code == 401:
                _unauthorized(response, "the server refused the token")
            if response.status_code != 200:
                raise UploadError(f"checking the token: {error_text(response)}")
            return
        assert self.options.user is not None and self.options.password is not None
        body = {"username": self.options.user, "password": self.options.password}
        response = self.call("logging in", lambda: self.client.post("/api/auth/login", json=body))
        if response.status_code in (400, 401):
            _unauthorized(response, f"cannot log in as {self.options.user}")
        if response.status_code != 200:
            raise UploadError(f"logging in: {error_text(response)}")
        self.token = str(response.json()["token"])

    def relogin_or_fail(self, response: httpx.Response, what: str) -> None:
        """A 401 mid-upload (the token expired): log in again if we can.

        Raises:
            AuthError: There is no password to log in with, or it was refused.
        """
        if self.options.password is None:
            _unauthorized(response, what)
        self.token = None
        self.log_in()

    def status(self, upload_id: str) -> dict[str, Any]:
        """The upload's status (``GET /api/upload/status/ID``)."""
        response = self.call(
            "asking for the upload's status",
            lambda: self.client.get(f"/api/upload/status/{upload_id}", headers=self.auth()),
        )
        if response.status_code != 200:
            raise UploadError(f"asking for the upload's status: {error_text(response)}")
        status: dict[str, Any] = response.json()["upload"]
        return status

    def follow(
        self, upload_id: str, deadline: float, processed: Callable[[float], None]
    ) -> dict[str, Any]:
        """The upload's status once the video is ``ready`` or ``failed``.

        Follows the server-sent events, reconnecting after a dropped stream.

        Args:
            upload_id: The upload whose video to wait for.
            deadline: When to give up, on the :func:`time.monotonic` clock.
            processed: Told the processing's percentage whenever the server reports it.

        Raises:
            UploadError: The deadline passed, or the retries are used up.
        """
        status = self.status(upload_id)
        while status["state"] not in _DONE:
            if time.monotonic() >= deadline:
                raise UploadError(
                    f"the video is still {status['state']} after {self.options.wait_timeout:.0f} s"
                )
            try:
                status = self._read_events(upload_id, deadline, processed, status)
            except httpx.TransportError as exc:
                self.backoff.pause(Transient(f"following the processing: {exc!r}"), self.say)
            else:
                self.backoff.reset()
                if status["state"] not in _DONE:
                    time.sleep(STREAM_RECONNECT_S)  # the stream ended early: do not spin
            status = self.status(upload_id)
        return status

    def _read_events(
        self,
        upload_id: str,
        deadline: float,
        processed: Callable[[float], None],
        status: dict[str, Any],
    ) -> dict[str, Any]:
        timeout = httpx.Timeout(CONNECT_TIMEOUT_S, read=SSE_READ_TIMEOUT_S)
        with self.client.stream(
            "GET",
            f"/api/upload/status/{upload_id}/events",
            headers={**self.auth(), "Accept": "text/event-stream"},
            timeout=timeout,
        ) as response:
            if response.status_code != 200:
                response.read()
                raise UploadError(f"following the processing: {error_text(response)}")
            for line in response.iter_lines():
                if line.startswith("data:"):
                    status = json.loads(line[len("data:") :])
                    if status.get("processing_percent") is not None:
                        processed(float(status["processing_percent"]))
                    if status["state"] in _DONE:
                        return status
                if time.monotonic() >= deadline:
                    break
        return status


def _unauthorized(response: httpx.Response, what: str) -> NoReturn:
    raise AuthError(f"{what}: {error_text(response)}")
