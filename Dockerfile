# syntax=docker/dockerfile:1
# Portico: multi-stage build on Node 24. The config is mounted at /etc/portico/portico.yaml (override with
# PORTICO_CONFIG); the proxy listens on 8080, the admin port on 127.0.0.1:9901. To expose the admin port (e.g. for
# Kubernetes probes) set PORTICO_ADMIN=0.0.0.0:9901 and PORTICO_ADMIN_TOKEN (16+ characters).

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The image already has Node 24: skip the pinned `node` devDependency's binary by omitting nothing but scripts.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORTICO_CONFIG=/etc/portico/portico.yaml \
    PORTICO_LISTEN=0.0.0.0:8080 \
    PORTICO_ADMIN=127.0.0.1:9901
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
COPY --chown=node:node config/portico.yaml /etc/portico/portico.yaml
USER node
EXPOSE 8080 9901
# The admin port answers /healthz, without the admin token; node's own fetch keeps the image free of curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const a=(process.env.PORTICO_ADMIN||'127.0.0.1:9901').replace(/^0\\.0\\.0\\.0:/,'127.0.0.1:');fetch('http://'+a+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["sh", "-c", "exec node --max-semi-space-size=8 --heap-growing-percent=50 dist/cli.js serve --config \"$PORTICO_CONFIG\""]
