# syntax=docker/dockerfile:1
# Portico on Node 24. The config is read from PORTICO_CONFIG (default /etc/portico/portico.yaml, a copy of
# config/portico.yaml: mount yours there); the proxy listens on 8080 and the admin port on 127.0.0.1:9901. To expose
# the admin port (e.g. for Kubernetes probes) set PORTICO_ADMIN=0.0.0.0:9901 and PORTICO_ADMIN_TOKEN (16+
# characters). The built-in user lookup, and with it the embedded database, is off unless PORTICO_USER_LOOKUP=true.
#
#   docker build -t portico .
#   docker run --rm -p 8080:8080 portico                                  # serve (the default command)
#   docker run --rm -v "$PWD/my.yaml:/cfg.yaml:ro" portico check --config /cfg.yaml
#   docker run --rm portico --help

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the one install script that matters is the pinned `node` devDependency's, which would download
# a second Node 24 binary into a stage that already runs on Node 24; nothing else needs one to build or run.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# tsc on the image's own node: with the `node` package's binary not installed, npx would find its dangling shim first.
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORTICO_CONFIG=/etc/portico/portico.yaml \
    PORTICO_LISTEN=0.0.0.0:8080 \
    PORTICO_ADMIN=127.0.0.1:9901 \
    PORTICO_USER_LOOKUP=false
WORKDIR /app
# Owned by root and only readable by the `node` user: the process cannot change its own code or config.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config/portico.yaml /etc/portico/portico.yaml
USER node
EXPOSE 8080 9901
# /healthz on the admin port PORTICO_ADMIN names, in any of its forms (`:9901`, `0.0.0.0:9901`, `[::1]:9901`), with
# no admin token; node's own fetch keeps curl out of the image (src/admin/healthcheck.ts).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "dist/admin/healthcheck.js"]
STOPSIGNAL SIGTERM
# Exec form: node is PID 1 and gets SIGTERM itself, and arguments to `docker run IMAGE …` replace CMD, so any
# subcommand runs (`check --config …`, `seed`, `schema`, `--version`). The flags are the bench's (bench/README.md).
ENTRYPOINT ["node", "--max-semi-space-size=8", "--heap-growing-percent=50", "dist/cli.js"]
CMD ["serve"]
