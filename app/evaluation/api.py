"""/api/v1 endpoints of evaluation."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["evaluation"])
