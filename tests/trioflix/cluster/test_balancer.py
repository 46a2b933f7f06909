"""The rig behind nginx, configured as docs/deployment.md says: an encoder publishing to
the balancer lands on one host and every host lists the channel, the API answers the
same whichever host the balancer picks, and a tus upload spread over the hosts
completes."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from functools import partial
from typing import TYPE_CHECKING

import httpx
import pytest
import trio

from tests.interop.media import FFMPEG, require
from tests.ports import free_port
from trioflix.cluster.site import MEMBER_TTL_S
from trioflix.storage import LocalStorageConfig, open_object_store

from .balancer import NGINX, STREAM_MODULE, Balancer, render, template
from .conftest import running_rig
from .test_rig import SLACK_S, create_key, origin_of, sign_up, wait_origin

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import PostgresCluster
    from tests.interop.media import Sample

    from .rig import Rig

pytestmark = pytest.mark.slow

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Balancer:
    """The balancer's ports and prefix, before the hosts start: they are told its RTMP port."""
    if not (NGINX.exists() and STREAM_MODULE.exists()):
        pytest.skip("nginx not found (apt-get install nginx libnginx-mod-stream)")
    return Balancer(tmp_path_factory.mktemp("nginx"), free_port(), free_port())


@pytest.fixture(scope="module")
def rig(
    pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory, nginx: Balancer
) -> Iterator[Rig]:
    """The rig, its hosts handing out the balancer's RTMP port in their URLs."""
    with running_rig(
        pg_cluster,
        tmp_path_factory,
        TRIOFLIX_PUBLIC_RTMP_PORT=str(nginx.rtmp_port),
        TRIOFLIX_CHECK_UPLOADS="off",  # the upload test reads its random bytes back
    ) as site:
        yield site


@pytest.fixture(scope="module")
def balancer(rig: Rig, nginx: Balancer) -> Iterator[Balancer]:
    nginx.start(
        http_hosts=[host.url.removeprefix("http://") for host in rig.hosts],
        rtmp_hosts=[f"127.0.0.1:{host.rtmp_port}" for host in rig.hosts],
    )
    try:
        yield nginx
    finally:
        nginx.stop()


def test_the_template_names_every_host_of_the_rig() -> None:
    rendered = render(
        template(),
        upstreams={
            "trioflix_rtmp": ["h:1"],
            "trioflix_http": ["h:2", "i:2"],
            "trioflix_direct": ["j:2"],
        },
        rtmp_listen="127.0.0.1:3",
        http_listen="127.0.0.1:4",
    )
    assert "10.0.0." not in rendered
    assert "        server h:1;\n    }" in rendered
    assert "        server h:2;\n        server i:2;\n        keepalive 32;" in rendered
    assert "    upstream trioflix_direct {\n        server j:2;\n    }" in rendered
    assert "listen 127.0.0.1:3;" in rendered
    assert "listen 127.0.0.1:4;" in rendered


async def test_a_publish_through_the_balancer_is_listed_by_every_host(
    rig: Rig, balancer: Balancer, sample: Sample, nursery: trio.Nursery
) -> None:
    token = await sign_up(rig.hosts[0], "alice")
    key = await create_key(rig.hosts[1], token)
    cmd = [require(FFMPEG, "ffmpeg"), "-hide_banner", "-loglevel", "error", "-re"]
    cmd += ["-stream_loop", "-1", "-i", str(sample.path), "-c", "copy", "-f", "flv"]
    cmd.append(f"rtmp://127.0.0.1:{balancer.rtmp_port}/live/{key}")
    encoder: trio.Process = await nursery.start(
        partial(trio.run_process, cmd, check=False, stdin=b"")
    )
    with trio.fail_after(30):
        while (origin := await _origin_url(rig)) is None:  # noqa: ASYNC110 (Redis says nothing)
            await trio.sleep(0.05)
    assert origin in {host.url for host in rig.hosts}

    async with httpx.AsyncClient(timeout=10) as client:
        for host in rig.hosts:
            listed = (await client.get(f"{host.url}/api/channels")).json()["channels"]
            assert [entry["name"] for entry in listed] == ["alice"]

        # Round-robin over the hosts: the same answer every time, with the playback
        # URLs of the balancer (the Host it was asked for), from the moment the
        # channel is live: an edge that has not read the origin's member record yet
        # offers LL-HLS as the origin does (the hosts are set up alike).
        answers = await _round_robin(client, balancer, len(rig.hosts))
        assert len(answers) == 1, answers
        (answer,) = answers
        assert "ll_hls" in json.loads(answer)["channels"][0]["playback"]

    encoder.terminate()
    with trio.fail_after(30 + MEMBER_TTL_S + SLACK_S):
        await encoder.wait()
        await wait_origin(rig, "alice", None)


async def _round_robin(client: httpx.AsyncClient, balancer: Balancer, hosts: int) -> set[str]:
    """The distinct answers to ``/api/channels`` over two rounds of the balancer's hosts."""
    answers = set()
    for _ in range(2 * hosts):
        response = await client.get(f"{balancer.url}/api/channels")
        assert response.status_code == 200, response.text
        (entry,) = response.json()["channels"]
        assert entry["playback"]["http_flv"] == f"{balancer.url}/live/alice.flv"
        assert entry["playback"]["rtmp"] == f"rtmp://127.0.0.1:{balancer.rtmp_port}/live/alice"
        answers.add(json.dumps(response.json(), sort_keys=True))
    return answers


async def _origin_url(rig: Rig) -> str | None:
    origin = await origin_of(rig, "alice")
    return origin.advertise_url if origin is not None else None


async def test_a_tus_upload_through_the_balancer_completes(
    rig: Rig, balancer: Balancer, tmp_path: Path
) -> None:
    token = await sign_up(rig.hosts[2], "uploader")
    data = os.urandom(3 * MIB + 11)
    source = tmp_path / "clip.mp4"
    source.write_bytes(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIOFLIX_")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), TRIOFLIX_TOKEN=token)
    # One PATCH per MiB, each to the next host in turn; nginx drops request
    # trailers, so the checksum travels as a header.
    command = [sys.executable, "-m", "trioflix", "upload", "--server", balancer.url]
    command += [str(source), "--chunk-size", "1M", "--checksum", "sha1", "--json"]
    with trio.fail_after(60):
        done = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=False, env=env
        )
    assert done.returncode == 0, done.stderr.decode() + balancer.log()
    assert json.loads(done.stdout)["video_id"]
    # The finished upload is the object uploads/ID/data in the hosts' store (on the
    # shared data directory here); random bytes fail processing, which keeps it.
    upload_id = json.loads(done.stdout)["upload_id"]
    async with open_object_store(
        LocalStorageConfig(root=rig.data_dir / "media"), data_dir=rig.data_dir
    ) as store:
        stored = await store.read_bytes(f"uploads/{upload_id}/data")
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
