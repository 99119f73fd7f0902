"""/api/v1 endpoints of actions."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["actions"])
