# Carreau in production: migrations once at start, then uvicorn (httptools + uvloop) with several workers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CARREAU_VAR_DIR=/srv/carreau/var \
    CARREAU_WORKERS=4

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin carreau
WORKDIR /srv/carreau

# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install -e . \
    && python -c "from app.core.i18n import compile_catalogs; compile_catalogs()"

COPY alembic.ini ./
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN mkdir -p var && chown carreau:carreau var

USER carreau
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"

# Set CARREAU_DATABASE_URL (PostgreSQL) and CARREAU_SECRET_KEY in production.
CMD ["sh", "-c", "carreau db upgrade && exec carreau serve --host 0.0.0.0 --port 8000 --workers \"$CARREAU_WORKERS\""]
