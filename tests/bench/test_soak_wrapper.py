"""``--server-wrapper``: the samples are the wrapped server's, not the wrapper's."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from bench.soak.__main__ import server_pid


def test_the_server_is_found_under_a_wrapper_whose_command_names_it() -> None:
    # As ``heaptrack -o DIR python -m trioflix serve``: a shell whose arguments include
    # the server's command, running that command as its child.
    server = f"{sys.executable} -c 'import time; time.sleep(30)' trioflix serve"
    wrapper = subprocess.Popen(["/bin/sh", "-c", f"{server}; true", "trioflix", "serve"])
    try:
        for _ in range(200):  # as the soak, which asks once the server answers
            if psutil.Process(wrapper.pid).children():
                break
            time.sleep(0.01)
        found = server_pid(wrapper.pid)
        assert found != wrapper.pid
        with open(f"/proc/{found}/cmdline", "rb") as cmdline:
            assert cmdline.read().split(b"\0")[0] == sys.executable.encode()
    finally:
        wrapper.kill()
        subprocess.run(["pkill", "-P", str(wrapper.pid)], check=False)
        wrapper.wait()
