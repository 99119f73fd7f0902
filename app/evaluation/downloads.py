"""Downloads of exports: the consultation export API and the evaluators' download pages."""

from fastapi import APIRouter

router = APIRouter()
