# One image for every region (and the demo workload) of compose.yaml:
#   docker compose up --build
# The dashboard's charting library comes from the npm registry at build time,
# exactly as `make setup` installs it; nothing of it is kept in the repository.

FROM node:20-slim AS dashboard-assets
WORKDIR /src/api/dashboard_assets
COPY api/dashboard_assets/package.json api/dashboard_assets/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY regions ./regions
COPY replicator ./replicator
COPY globaltables ./globaltables
# `globaltables bench` (docs/benchmarks.md); its npm peer (dynalite) is not in the image
COPY bench ./bench
COPY --from=dashboard-assets /src/api/dashboard_assets/node_modules ./api/dashboard_assets/node_modules
# editable, so the region serves the dashboard files from /app/api/dashboard_assets
RUN pip install -e . && useradd --system --home-dir /app globaltables
USER globaltables
ENTRYPOINT ["globaltables"]
CMD ["--help"]
