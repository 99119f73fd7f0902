"""Pages of notifications (filled in by the back-office work)."""

from fastapi import APIRouter

router = APIRouter()
