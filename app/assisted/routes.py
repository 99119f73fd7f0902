"""Pages of assisted (filled in by the back-office work)."""

from fastapi import APIRouter

router = APIRouter()
