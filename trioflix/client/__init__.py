"""``trioflix upload FILE``: a resumable tus 1.0.0 client for the command line.

Theory of operation:

- **Log in** with a token (``--token`` / ``TRIOFLIX_TOKEN``, checked with
  ``GET /api/auth/me``) or a name and password (``POST /api/auth/login``).
- **Ask the server** what it offers (``OPTIONS``): the checksum algorithm
  (sha256, else sha1, else md5) and ``Tus-Max-Size``.
- **Resume or create.** The upload URL of every file is remembered in a small
  JSON file under the user's cache directory, keyed by server, absolute path,
  size and modification time, so a changed file is never resumed. On a
  restart the client asks the server (``HEAD``) how many bytes it holds and
  goes on from there; an upload the server no longer knows is created anew.
- **Send** the file in ``PATCH`` requests of at most ``--chunk-size`` bytes,
  each with ``Upload-Checksum``. A chunk is read from disk twice in 1 MiB
  blocks (once to hash it, since the checksum header precedes the body, then
  to send it), so memory stays flat whatever the chunk or file size.
- **Retry** transient failures (network errors, 408, 423, 429, 460, 5xx,
  507) with exponential backoff; after each failure ``HEAD`` tells where the
  server stands, since it keeps the bytes of a request that was cut short.
- **Report** the video: ``--wait`` follows the upload's server-sent events until
  the video is ``ready`` or ``failed``.

This is a synchronous program: one upload, one connection, nothing to run
concurrently, so the blocking ``httpx.Client`` is the simplest correct tool.
Header syntax comes from :mod:`protocols.tus`.

The modules, in the order an upload uses them:

- :mod:`~trioflix.client.arguments`: the command's flags, parsed into ``Options``;
- :mod:`~trioflix.client.session`: logging in and the API calls around the upload;
- :mod:`~trioflix.client.retry`: which failures are retried, and the pauses between;
- :mod:`~trioflix.client.resume`: the remembered upload URLs;
- :mod:`~trioflix.client.source`: the file, read by offset;
- :mod:`~trioflix.client.transfer`: the tus requests that move the file;
- :mod:`~trioflix.client.progress`: the progress bar and messages (tqdm);
- :mod:`~trioflix.client.command`: all of it as one command, with exit statuses.

Only :mod:`~trioflix.client.progress` needs tqdm, an optional dependency (the
``upload`` extra), so this package imports nothing by itself: ``trioflix serve``
reads :mod:`~trioflix.client.arguments` for its parser and no more.
"""
