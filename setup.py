"""Build hook: put the pages' front-end builds into the package.

The web pages load hls.js, mpegts.js and tus-js-client, installed from npm into
``web/node_modules`` and pinned by ``web/package-lock.json``. A source checkout serves
them from there; an installed trioflix has no checkout, so every sdist and wheel
carries them in ``trioflix/web/vendor/``: the three builds the pages load
(``trioflix.web.VENDOR_FILES``), ``LICENSES.txt`` (the licence of every npm package
the lockfile installs, since the builds bundle some of them) and ``versions.json``
(each package's version, as the lockfile pins it).

``vendor/`` is made before the files are collected, in the source tree (it is in
``.gitignore``). It is remade only when ``versions.json`` differs from the lockfile,
so an unpacked sdist, which carries it, builds a wheel without Node.js. Otherwise
``npm ci`` installs ``web/node_modules`` when it is missing or does not match the
lockfile; without npm the build stops and says so. Editable installs (``./dev``) skip
all of this: a checkout serves ``web/node_modules`` itself.

Built from a git checkout, the package also records the commit, in
``trioflix/commit.txt`` (also in ``.gitignore``, also carried by the sdist), for
``trioflix --version`` and ``/healthz`` of an installed trioflix.

Everything else about the package is in ``pyproject.toml``.
"""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
NODE_MODULES = WEB / "node_modules"
# Read by path: importing trioflix would need its dependencies, absent in a build environment.
_web = runpy.run_path(str(ROOT / "trioflix" / "web" / "__init__.py"))
VENDOR_DIR: Path = _web["VENDOR_DIR"]
VENDOR_FILES: dict[str, str] = _web["VENDOR_FILES"]
VERSIONS: str = _web["VENDOR_VERSIONS"]
LICENSES = "LICENSES.txt"
COMMIT_FILE = ROOT / "trioflix" / "commit.txt"  # read by trioflix.version


def _locked() -> dict[str, str]:
    """Every npm package the lockfile installs, and its version."""
    lock = json.loads((WEB / "package-lock.json").read_text())
    prefix = "node_modules/"
    return {
        path.removeprefix(prefix): entry["version"]
        for path, entry in sorted(lock["packages"].items())
        if path.startswith(prefix) and not entry.get("dev")
    }


def _installed(name: str) -> str | None:
    try:
        manifest = json.loads((NODE_MODULES / name / "package.json").read_text())
    except FileNotFoundError:
        return None
    return str(manifest["version"])


def _npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "building trioflix needs npm (Node.js) to install the pages' front-end "
            f"packages pinned by {WEB / 'package-lock.json'}: install Node.js, or build "
            "from the sdist, which carries them"
        )
    subprocess.run(
        [npm, "ci", "--prefix", str(WEB), "--no-audit", "--no-fund", "--loglevel=error"],
        check=True,
    )


def _license_text(name: str, version: str) -> str:
    package = NODE_MODULES / name
    declared = json.loads((package / "package.json").read_text()).get("license", "not declared")
    texts = sorted(
        p for p in package.iterdir() if p.name.upper().startswith(("LICENSE", "LICENCE"))
    )
    body = "\n".join(p.read_text() for p in texts) or "(the package ships no licence file)\n"
    return f"{'=' * 72}\n{name} {version} (license: {declared})\n{'=' * 72}\n{body}\n"


def make_vendor() -> None:
    """Fill ``trioflix/web/vendor/`` from the npm packages the lockfile pins, if stale."""
    locked = _locked()
    stamp = VENDOR_DIR / VERSIONS
    if stamp.is_file() and json.loads(stamp.read_text()) == locked:
        return
    if any(_installed(name) != version for name, version in locked.items()):
        _npm_ci()
    if VENDOR_DIR.exists():
        shutil.rmtree(VENDOR_DIR)
    VENDOR_DIR.mkdir()
    for name, relative in VENDOR_FILES.items():
        shutil.copyfile(NODE_MODULES / relative, VENDOR_DIR / name)
    notices = [_license_text(name, version) for name, version in locked.items()]
    (VENDOR_DIR / LICENSES).write_text("".join(notices))
    # Written last: its presence says the directory is complete.
    stamp.write_text(json.dumps(locked, indent=2) + "\n")


def record_commit() -> None:
    """Write the checkout's commit into the package; an unpacked sdist keeps its own."""
    if not (ROOT / ".git").exists():
        return
    done = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode == 0:
        COMMIT_FILE.write_text(done.stdout)
    else:  # no git: a package without a commit rather than a wrong one
        COMMIT_FILE.unlink(missing_ok=True)


class BuildPy(build_py):
    def run(self) -> None:
        if not self.editable_mode:
            make_vendor()
            record_commit()
        super().run()


class Sdist(sdist):
    def run(self) -> None:
        make_vendor()
        record_commit()
        super().run()


setup(cmdclass={"build_py": BuildPy, "sdist": Sdist})
