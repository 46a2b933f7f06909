"""Hypothesis profiles for the protocol suites.

``HYPOTHESIS_PROFILE=dev`` (the default on a workstation) or ``ci`` (the default
when ``CI`` is set, as .ci/run has it). Tests that pin ``max_examples`` with
``@settings`` keep their own count; the rest follow the profile.

A profile is global to the process, so it also applies to Hypothesis tests
outside tests/protocols in the same run.
"""

from __future__ import annotations

import os

from hypothesis import settings

# Neither profile has a deadline: the protocol tests are CPU-bound and a slow or
# shared machine would turn a deadline into flaky failures, not into information.
settings.register_profile("dev", max_examples=100, deadline=None)
# CI: a few more examples than dev, still bounded so that the suite stays fast;
# print_blob lets a CI failure be replayed locally with @reproduce_failure.
settings.register_profile("ci", max_examples=150, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
