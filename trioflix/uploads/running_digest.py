"""A sha-256 of an upload's bytes that outlives the request, the process and the host.

A ``Repr-Digest`` (RFC 9530) covers the whole upload, which may arrive over many
requests, on any host (object storage), with restarts in between. Reading the
bytes back to hash them at the end would mean reading the whole file again (and
parts of an unfinished multipart upload cannot be read at all), so the digest
runs along instead: each request feeds it the bytes it writes, and the state of
the hash (the 32-byte chaining value, the length so far and the at most 63
bytes not yet hashed) is stored with the upload each time its offset is
committed, so that it always says which offset it covers.

``hashlib`` cannot export that state, so this uses OpenSSL's ``SHA256_*``
functions through ``ctypes``, from the very libcrypto ``hashlib`` is built on:
the symbols are looked up through Python's own ``_hashlib`` extension, which
the dynamic loader resolves in the libraries it is linked against, so this
works where ``ctypes.util.find_library`` finds nothing (no ``ldconfig`` cache,
musl, slim containers) and never picks another OpenSSL than ``hashlib``'s.
They release the GIL as ``hashlib`` does, and hash as fast. The library is
loaded on first use: where there is none, the module still imports and only
:class:`RunningSha256` raises :class:`DigestUnavailable`. The stored form
(:meth:`RunningSha256.state`) is OpenSSL's context in a fixed byte order, so a
host of another architecture can continue it.

Runs in the disk worker threads (:meth:`RunningSha256.update`) and on the Trio
thread (:meth:`RunningSha256.state_at`), so it takes a lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import struct
import threading

__all__ = ["MAX_MARKS", "DigestUnavailable", "RunningSha256", "available"]

SHA256_SIZE = 32
_BLOCK = 64  # bytes of one sha-256 block
_HEAD = struct.Struct(">8IQ")  # chaining value, then the bytes hashed so far
# State kept for every offset a commit may name: the end of each piece written
# (a write's end on local disk, a part's end on object storage). A commit names
# an offset at most a commit interval plus the parts in flight behind the writing,
# some 64 MiB; in 16 KiB pieces (HTTP/2 frames) that is 4096 of them.
MAX_MARKS = 8192


class _Context(ctypes.Structure):
    # OpenSSL's SHA256_CTX (<openssl/sha.h>): SHA_LONG is a 32-bit unsigned int.
    _fields_ = (
        ("h", ctypes.c_uint32 * 8),
        ("Nl", ctypes.c_uint32),
        ("Nh", ctypes.c_uint32),
        ("data", ctypes.c_uint8 * _BLOCK),
        ("num", ctypes.c_uint),
        ("md_len", ctypes.c_uint),
    )


class DigestUnavailable(RuntimeError):
    """No libcrypto with OpenSSL's ``SHA256_*`` functions could be loaded."""


def _candidates() -> list[str | None]:
    """Where to look for ``SHA256_Init``, the library ``hashlib`` uses first."""
    candidates: list[str | None] = []
    try:
        import _hashlib  # hashlib's OpenSSL binding; absent from a Python without OpenSSL
    except ImportError:
        pass  # a Python built without OpenSSL: only a system libcrypto is left
    else:
        # Looked up in the extension, its symbols resolve through the libcrypto it is
        # linked against; without a file it is built into the interpreter (None: the
        # process's own symbols, where a static OpenSSL may export them).
        candidates.append(getattr(_hashlib, "__file__", None))
    system = ctypes.util.find_library("crypto")
    if system is not None:
        candidates.append(system)
    return candidates


@functools.cache
def _load() -> ctypes.CDLL | str:
    """OpenSSL's libcrypto, or why there is none; tried once (``find_library`` runs
    ``ldconfig``)."""
    tried = []
    for name in _candidates():
        try:
            library = ctypes.CDLL(name)
            functions = (library.SHA256_Init, library.SHA256_Update, library.SHA256_Final)
        except (OSError, AttributeError) as exc:
            tried.append(f"{name or 'the interpreter'}: {exc}")
            continue
        for function in functions:
            function.restype = ctypes.c_int
        library.SHA256_Init.argtypes = [ctypes.POINTER(_Context)]
        library.SHA256_Update.argtypes = [
            ctypes.POINTER(_Context),
            ctypes.c_void_p,
            ctypes.c_size_t,
        ]
        library.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Context)]
        return library
    return (
        "a running sha-256 needs OpenSSL's libcrypto (SHA256_Init), found neither through"
        " hashlib's _hashlib nor as a system library: " + ("; ".join(tried) or "none found")
    )


def _libcrypto() -> ctypes.CDLL:
    loaded = _load()
    if isinstance(loaded, str):
        raise DigestUnavailable(loaded)
    return loaded


def available() -> bool:
    """Whether :class:`RunningSha256` can be used on this host."""
    return not isinstance(_load(), str)


class RunningSha256:
    """A sha-256 that can be stored at any offset it passed and continued from there.

    Args:
        state: What :meth:`state` returned; empty: a fresh hash at offset 0.

    Raises:
        ValueError: ``state`` is not a stored state.
        DigestUnavailable: This host has no libcrypto to hash with.
    """

    def __init__(self, state: bytes = b"") -> None:
        self._crypto = _libcrypto()
        self._context = _Context()
        self._crypto.SHA256_Init(ctypes.byref(self._context))
        if state:
            if len(state) < _HEAD.size or len(state) - _HEAD.size >= _BLOCK:
                raise ValueError("not a stored sha-256 state")
            *chaining, size = _HEAD.unpack_from(state)
            pending = state[_HEAD.size :]
            if size % _BLOCK != len(pending):
                raise ValueError("a stored sha-256 state whose length and bytes disagree")
            self._context.h[:] = chaining
            bits = size * 8
            self._context.Nl, self._context.Nh = bits & 0xFFFFFFFF, bits >> 32
            self._context.data[: len(pending)] = pending
            self._context.num = len(pending)
        self._lock = threading.Lock()
        self._marks: dict[int, bytes] = {self.offset: self.state()}

    @property
    def offset(self) -> int:
        """The bytes hashed so far."""
        return int((self._context.Nh << 32) | self._context.Nl) // 8

    def state(self) -> bytes:
        """The state to store: continued by ``RunningSha256(state)``."""
        pending = bytes(self._context.data[: self._context.num])
        return _HEAD.pack(*self._context.h, self.offset) + pending

    def update(self, data: bytes | memoryview, /) -> None:
        """Hash ``data`` next, and keep the state at its end for :meth:`state_at`."""
        if isinstance(data, memoryview) and data.readonly:
            data = bytes(data)  # ctypes takes no read-only buffer; a copy is cheap beside sha-256
        size = len(data)
        with self._lock:
            if isinstance(data, memoryview):
                address = ctypes.addressof(ctypes.c_char.from_buffer(data)) if size else None
                self._crypto.SHA256_Update(ctypes.byref(self._context), address, size)
            else:
                self._crypto.SHA256_Update(ctypes.byref(self._context), data, size)
            self._marks[self.offset] = self.state()
            if len(self._marks) > MAX_MARKS:
                del self._marks[next(iter(self._marks))]

    def state_at(self, offset: int) -> bytes | None:
        """The state at ``offset`` (where a piece ended), forgetting those before it;
        ``None`` if it was not such an offset or is forgotten."""
        with self._lock:
            state = self._marks.get(offset)
            if state is not None:
                for earlier in [mark for mark in self._marks if mark < offset]:
                    del self._marks[earlier]
            return state

    def digest(self) -> bytes:
        """The sha-256 of everything hashed so far (the hash can go on)."""
        with self._lock:
            done = _Context.from_buffer_copy(self._context)
        out = ctypes.create_string_buffer(SHA256_SIZE)
        self._crypto.SHA256_Final(out, ctypes.byref(done))
        return out.raw
