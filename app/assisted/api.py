"""/api/v1 endpoints of assisted."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["assisted"])
