"""/api/v1 endpoints of backoffice."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["backoffice"])
