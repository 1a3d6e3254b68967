"""The `extended` marker: tests that need something `make test` does not install (the llama-cpp-python server,
built from source). They run only under `make test-extended`, which sets TOTOROID_EXTENDED=1."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "extended: needs an extra install; run with `make test-extended`")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("TOTOROID_EXTENDED") == "1":
        return
    skip = pytest.mark.skip(reason="extended test: run with `make test-extended`")
    for item in items:
        if item.get_closest_marker("extended"):
            item.add_marker(skip)
