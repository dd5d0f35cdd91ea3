"""The resource names are spelled in two places that must agree: the `SettingsResource` type
(which the API's schemas and the audit and stats filters validate against) and REGISTRY (which
the routes, the snapshot and the reports are built from)."""

from __future__ import annotations

from typing import get_args

from mailpolicy.resources import REGISTRY
from mailpolicy.resources.spec import SettingsResource


def test_every_resource_name_has_one_spec_and_every_spec_a_name() -> None:
    paths = [spec.path for spec, _ in REGISTRY]
    assert len(paths) == len(set(paths))
    assert set(paths) == set(get_args(SettingsResource))


def test_the_engine_reads_every_resource_but_the_url_ignore_patterns() -> None:
    # The engine has no rule for URL ignore patterns yet (nothing scans URLs); every other
    # resource's entries reach the snapshot through its spec.
    without = {spec.path for spec, _ in REGISTRY if spec.to_rule is None}
    assert without == {"url_ignore_patterns"}
