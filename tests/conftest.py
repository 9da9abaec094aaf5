"""Test-wide hooks: the order tests run in, and ``async def`` tests in a fresh event loop with a bound.

Order: tests that start (or need no) Ray of their own run first; then the ones
on the session's shared embedded Ray and replica (the ``runner`` fixture of
tests/integration/conftest.py), which lives until the session ends, so no
test after it may start a Ray of its own; tests that kill or restart the
shared replica (``restarts_engine``) run last. The sort is stable: within each
group the collection order stays.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

ASYNC_TEST_TIMEOUT_S = 120


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def group(item: pytest.Item) -> int:
        if item.get_closest_marker("restarts_engine") is not None:
            return 2
        return 1 if "runner" in getattr(item, "fixturenames", ()) else 0

    items.sort(key=group)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), ASYNC_TEST_TIMEOUT_S))
    return True
