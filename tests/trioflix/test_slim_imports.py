"""Libraries that would load an optional module trioflix never uses load without it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from trioflix.slim_imports import hidden


def _loaded_after(code: str, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` a fresh interpreter has loaded once ``code`` ran."""
    report = f"import sys; print(' '.join(n for n in {names!r} if n in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.split()


def test_a_hidden_module_cannot_be_imported_in_the_block_and_can_after() -> None:
    name = "trioflix_never_loaded_module_for_this_test"
    with hidden(name), pytest.raises(ImportError):
        __import__(name)
    assert name not in sys.modules
    with hidden("json"):  # loaded already: left alone
        import json

        assert json.dumps(1) == "1"


def test_the_s3_client_leaves_pyopenssl_and_cryptography_unloaded() -> None:
    # Both are installed (aiortc brings them); botocore would load them through
    # urllib3's pyOpenSSL adapter: 10 MiB resident for an SSLContext the ssl module has.
    code = (
        "from trioflix.storage._s3 import create_s3_client\n"
        "create_s3_client('http://127.0.0.1:9', 'us-east-1', 'key', 'secret')"
    )
    assert _loaded_after(code, ("boto3", "OpenSSL", "cryptography")) == ["boto3"]


def test_tokens_leave_cryptography_unloaded_and_it_still_loads_for_webrtc() -> None:
    code = (
        "from trioflix.auth.tokens import TokenIssuer\n"
        "assert 'cryptography' not in sys.modules\n"
        "import cryptography.hazmat.primitives.hashes"
    )
    assert _loaded_after(f"import sys\n{code}", ("jwt", "cryptography")) == [
        "jwt",
        "cryptography",
    ]


@pytest.mark.parametrize(
    "module",
    [
        "trioflix.cluster.site",
        "trioflix.api.thumbnails",
        "trioflix.live.channel.webhooks",
        "trioflix.live.edge.hls_proxy",
    ],
)
def test_the_servers_http_client_leaves_its_command_line_tools_unloaded(module: str) -> None:
    # httpx loads its command-line client (rich and pygments, 3 MiB) whenever they
    # are installed; each server module that imports httpx first leaves them out.
    code = f"import {module}\nimport httpx\nassert httpx.AsyncClient"
    assert _loaded_after(code, ("httpx", "rich", "pygments")) == ["httpx"]
