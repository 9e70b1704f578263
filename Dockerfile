# syntax=docker/dockerfile:1
# Multi-stage: build tickertape's wheel and install it, with CPU torch, into a virtualenv; copy
# only that virtualenv into a slim runtime image. The page and the migrations are package data
# in the wheel, so the image holds no source checkout.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
# Other torch builds (CUDA, ROCm): --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu124
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
WORKDIR /src
# .gitignore: hatchling leaves out what git would (caches, local databases).
COPY pyproject.toml README.md .gitignore ./
COPY backend ./backend
RUN pip wheel --no-deps --wheel-dir /dist . \
 && set -- /dist/tickertape-*.whl \
 && pip install "$1[postgres]"

FROM python:${PYTHON_VERSION}-slim AS runtime
RUN useradd --create-home --uid 10001 tickertape && mkdir /data && chown tickertape /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TICKERTAPE_HOST=0.0.0.0 \
    TICKERTAPE_PORT=8000 \
    TICKERTAPE_AUTH=token \
    TICKERTAPE_DATABASE_URL=sqlite+aiosqlite:////data/tickertape.db \
    HF_HUB_OFFLINE=1
WORKDIR /data
USER tickertape
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
# `serve` applies pending migrations before it listens.
CMD ["tickertape", "serve"]
