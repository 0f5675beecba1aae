# One image recipe for both services: docker build --build-arg SERVICE=match-processor .
# (docker-compose.yml builds match-processor and calendar-sync from it). Both services build the
# same way, so one file keeps the pnpm version, base image and user in one place, and the whole
# build stage is one set of cached layers: the second service only adds its final stage.
# Build context: the repository root. Works with the legacy builder (DOCKER_BUILDKIT=0).
ARG NODE_IMAGE=node:24-alpine

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
# Both services in one step (no SERVICE arg here): the shared packages compile once, and the second
# service's build finds this whole stage cached. `pnpm pm deploy` writes a service, its production
# dependencies and its built workspace packages as one self-contained folder (the root script
# named `deploy` is the rollout CLI).
RUN pnpm --filter "@fogis/match-processor..." --filter "@fogis/calendar-sync..." run build \
 && pnpm pm deploy --filter @fogis/match-processor --prod /out/match-processor \
 && pnpm pm deploy --filter @fogis/calendar-sync --prod /out/calendar-sync

FROM ${NODE_IMAGE}
ARG SERVICE
RUN test -n "$SERVICE" || { echo "pass --build-arg SERVICE=match-processor (or calendar-sync)" >&2; exit 1; }
ENV NODE_ENV=production DATA_DIR=/app/data
WORKDIR /app
COPY --from=build /out/${SERVICE} /app
# A named volume mounted on /app/data takes this ownership, so the non-root user can write state.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
# The Node/V8 flags the services run with are defined once, in @fogis/runtime's node-flags
# (packages/runtime/src/node-flags.ts says why each). exec: node replaces the shell and gets the signals.
CMD ["sh", "-c", "exec node $(cat node_modules/@fogis/runtime/node-flags) dist/main.js"]
