"""The only place that reads the wall clock. The app keeps it in app.state.clock, so tests can move time."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request


def utcnow() -> datetime:
    return datetime.now(UTC)


async def get_now(request: Request) -> datetime:
    # async: a dependency this small is not worth a trip to the thread pool (see BENCHMARKS.md)
    return request.app.state.clock()


NowDep = Annotated[datetime, Depends(get_now)]
