# One image recipe for every service: docker build --build-arg SERVICE=match-processor .
# (docker-compose.yml builds match-processor and calendar-sync from it). Both services build the
# same way, so one file keeps the pnpm version, base image and user in one place, and everything up
# to the install is one set of cached layers that the second service reuses.
# Build context: the repository root. Works with the legacy builder (DOCKER_BUILDKIT=0).
ARG NODE_IMAGE=node:20-alpine

# Just the package manifests, at their paths. COPY --from is cached by content, so the install
# below reruns when a package.json changes, not on every source edit (and no 300 MB node_modules
# layer piles up per edit).
FROM ${NODE_IMAGE} AS manifests
WORKDIR /repo
COPY . .
RUN find . -name package.json | while read -r f; do mkdir -p "/manifests/${f%/*}" && cp "$f" "/manifests/$f"; done

FROM ${NODE_IMAGE} AS build
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
RUN npm install -g pnpm@12.21.0
WORKDIR /repo
# Depends on the lockfile only: downloads stay cached until a dependency changes.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch
COPY --from=manifests /manifests/ ./
RUN pnpm install --frozen-lockfile --offline
COPY . .
ARG SERVICE
# `pnpm pm deploy`: the service, its production dependencies and its built workspace packages as
# one self-contained folder (the root script named `deploy` is the rollout CLI).
RUN test -n "$SERVICE" || { echo "pass --build-arg SERVICE=<folder under packages/>" >&2; exit 1; } \
 && pnpm --filter "@fogis/$SERVICE..." run build \
 && pnpm pm deploy --filter "@fogis/$SERVICE" --prod /out

FROM ${NODE_IMAGE}
ENV NODE_ENV=production DATA_DIR=/app/data
WORKDIR /app
COPY --from=build /out /app
# A named volume mounted on /app/data takes this ownership, so the non-root user can write state.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
CMD ["node", "dist/main.js"]
