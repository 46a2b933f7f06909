"""The wheel is the product: built with ``python -m build``, installed into a fresh
virtual environment outside the checkout, ``trioflix serve`` gives working pages.

One test, in steps, because each step needs the one before and the build and the
install are the dear part (about a minute together): the build runs from a copy of the
checkout (so the build's own files stay out of it), in an isolated build environment,
sdist first and the wheel from the sdist; the wheel goes into a new virtual environment
under the test's temporary directory, with its dependencies from the package index;
the server runs there on the embedded defaults (its own SQLite data directory in the
working directory; only the ports are chosen, as other tests run beside it) with no
path into the checkout; ffmpeg publishes; headless Chromium plays the channel page and
uploads a file from the upload page.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import trio

from tests.api import auth
from tests.browser.helpers import PageLog, in_browser, new_context, wait_playing
from tests.interop.media import FFMPEG, make_sample, require
from tests.ports import free_port
from tests.trioflix.live_hls.helpers import serve_process
from tests.trioflix.uploads.helpers import make_video

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = [pytest.mark.slow, pytest.mark.interop]

ROOT = Path(__file__).resolve().parent.parent
# What the pages load from the package, and the npm package each comes from.
VENDOR = {"hls.min.js": "hls.js", "mpegts.js": "mpegts.js", "tus.min.js": "tus-js-client"}
# What the build adds to the package (files that exist in no checkout).
PACKAGE = "trioflix"
WHEEL_VENDOR = f"{PACKAGE}/web/vendor"
BUILD_TIMEOUT_S = 300  # an isolated build downloads setuptools; pip installs ~30 packages
PROCESSING_TIMEOUT_MS = 120_000  # the uploaded video's renditions, on a loaded machine


def _run(cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{cmd}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return str(done.stdout)


def _copy_checkout(target: Path) -> str:
    """The checkout's files as they are now (committed or not) in a git repository of its
    own at ``target``, with the installed npm packages; its ``git describe``."""
    listed = _run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    )
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a deleted file is still listed until committed
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    node_modules = ROOT / "web" / "node_modules"
    if node_modules.is_dir():  # else the build runs npm ci itself
        shutil.copytree(node_modules, target / "web" / "node_modules", symlinks=True)
    git = ["git", "-C", str(target), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    _run([*git, "init", "-q"])
    _run([*git, "add", "-A"])
    _run([*git, "commit", "-q", "-m", "build"])
    return _run([*git, "describe", "--always", "--dirty", "--abbrev=12"]).strip()


def _build_and_install(work: Path) -> tuple[Path, Path, str]:
    """The wheel, the environment's bin directory, and the commit the build was made from."""
    source = work / "source"
    commit = _copy_checkout(source)
    dist = work / "dist"
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(source)])
    (wheel,) = dist.glob("trioflix-*.whl")
    assert len(list(dist.glob("trioflix-*.tar.gz"))) == 1
    env_dir = work / "env"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], cwd=work)
    return wheel, bin_dir, commit


def _check_wheel_contents(wheel: Path) -> str:
    """Assert what the wheel holds and lacks; the commit it records."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        licenses = archive.read(f"{WHEEL_VENDOR}/LICENSES.txt").decode()
        versions = json.loads(archive.read(f"{WHEEL_VENDOR}/versions.json"))
        recorded = archive.read(f"{PACKAGE}/commit.txt").decode()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"trioflix", "protocols", wheel.name.split("-py3")[0] + ".dist-info"}, tops
    # No tests, benchmarks, development or build leftovers.
    for name in names:
        parts = name.split("/")
        assert not {"tests", "bench", "node_modules", "__pycache__"} & set(parts), name
        assert not name.endswith((".pyc", "noxfile.py", "setup.py", "conftest.py")), name
    for name, package in VENDOR.items():
        assert f"{WHEEL_VENDOR}/{name}" in names
        lock = json.loads((ROOT / "web" / "package-lock.json").read_text())
        pinned = lock["packages"][f"node_modules/{package}"]["version"]
        assert versions[package] == pinned
        assert f"\n{package} {pinned} (license: " in licenses
    return recorded.strip()


def _clean_env() -> dict[str, str]:
    """This environment less anything pointing at the checkout or configuring trioflix."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "DATABASE_URL", "JWT_SECRET", "REDIS_URL", "VIRTUAL_ENV")
        and not key.startswith("TRIOFLIX_")
    }


async def test_the_wheel_installed_outside_the_checkout_serves_working_pages(
    tmp_path: Path,
) -> None:
    ffmpeg = require(FFMPEG, "ffmpeg")
    wheel, bin_dir, commit = await trio.to_thread.run_sync(_build_and_install, tmp_path)
    assert _check_wheel_contents(wheel) == commit

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    installed = partial(_run, cwd=run_dir, env=_clean_env())
    located = await trio.to_thread.run_sync(
        installed, [str(bin_dir / "python"), "-c", "import trioflix; print(trioflix.__file__)"]
    )
    package = Path(located.strip()).parent
    assert package.is_relative_to(tmp_path / "env"), package
    version_line = await trio.to_thread.run_sync(
        installed, [str(bin_dir / "trioflix"), "--version"]
    )
    release = wheel.name.split("-")[1]
    assert version_line == f"trioflix {release} (commit {commit})\n"

    sample = await trio.to_thread.run_sync(
        partial(make_sample, tmp_path / "live.flv", seconds=40, gop=60)
    )
    video = tmp_path / "holiday.mp4"
    await trio.to_thread.run_sync(partial(make_video, video, seconds=2))
    port, rtmp = free_port(), f"127.0.0.1:{free_port()}"
    base = f"http://127.0.0.1:{port}"
    env = {**_clean_env(), "TRIOFLIX_RTMP": rtmp}  # the one setting: other tests run beside
    python = str(bin_dir / "python")
    serving = serve_process(env, port, run_dir / "serve.log", python=python, cwd=run_dir)
    async with serving as (_, client), trio.open_nursery() as nursery:
        health = (await client.get("/healthz")).json()
        assert health == {
            "status": "ok",
            "database": "sqlite",
            "version": release,
            "commit": commit,
        }
        assert (run_dir / "trioflix-data").is_dir()  # the embedded default
        registered = await client.post(
            "/api/auth/register", json={"username": "alice", "password": "correct horse"}
        )
        login = registered.json()["token"], registered.json()["user"]
        created = await client.post("/api/streaming/keys", headers=auth(login[0]))
        key = created.json()["key"]["key"]
        # The files the pages load are the installed package's.
        for name in VENDOR:
            served = await client.get(f"/assets/vendor/{name}")
            assert served.status_code == 200
            assert served.content == (package / "web" / "vendor" / name).read_bytes()

        publish = [ffmpeg, "-hide_banner", "-loglevel", "error", "-re", "-i", str(sample.path)]
        publish += ["-c", "copy", "-f", "flv", f"rtmp://{rtmp}/live/{key}"]
        nursery.start_soon(partial(trio.run_process, publish, check=False, stdin=b""))

        def scenario(browser: Browser) -> None:
            context = new_context(browser, base, login=login)
            page = context.new_page()
            log = PageLog()
            log.attach(page)
            page.goto("/channel/alice")
            loaded = "typeof Hls === 'function' && typeof mpegts.createPlayer === 'function'"
            assert page.evaluate(loaded)
            wait_playing(page)
            # hls.js in its low-latency mode: the package serves LL-HLS too.
            assert page.locator(".player").get_attribute("data-engine") == "ll-hls"

            page.goto("/upload")
            page.locator("#file-input").set_input_files(str(video))
            page.wait_for_function(
                f"() => document.querySelector(\".upload-item[data-file='{video.name}']\")"
                "?.dataset.state === 'ready'",
                timeout=PROCESSING_TIMEOUT_MS,
            )
            assert log.errors == []
            context.close()

        await in_browser(scenario)
        nursery.cancel_scope.cancel()
