"""/api/v1 endpoints of notifications."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["notifications"])
