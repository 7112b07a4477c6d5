# syntax=docker/dockerfile:1
# The Flotilla agent image: `flotilla-agent` on Node 24 LTS. Build it from the repository root:
#   docker build -f deploy/docker/agent.Dockerfile -t ghcr.io/flotilla-dev/flotilla-agent:0.1.0 .
# It runs as UID/GID 10001 with a read-only root filesystem: its state (credential, desired
# state) lives in a Secret of its cluster (`--state-namespace`) or under --state-dir, and it
# writes nothing else but /tmp.

ARG NODE_IMAGE=node:24.21.0-trixie-slim

FROM ${NODE_IMAGE} AS build
ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0
WORKDIR /src
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY proto/package.json proto/
COPY hub/package.json hub/
COPY agent/package.json agent/
COPY e2e/package.json e2e/
RUN corepack enable pnpm && pnpm install --frozen-lockfile --filter "@flotilla/agent..." --filter flotilla
COPY tsconfig.base.json ./
COPY proto proto
COPY agent agent
COPY deploy/docker/bundle.sh deploy/docker/
RUN deploy/docker/bundle.sh agent /out

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="flotilla-agent" \
      org.opencontainers.image.description="Flotilla agent: reconciles a cluster from the Flotilla hub"
ENV NODE_ENV=production HOME=/tmp
COPY --from=build /out /opt/flotilla/agent
RUN chmod 0755 /opt/flotilla/agent/dist/main.js \
 && ln -s /opt/flotilla/agent/dist/main.js /usr/local/bin/flotilla-agent
USER 10001:10001
EXPOSE 8443
ENTRYPOINT ["flotilla-agent"]
CMD ["--help"]
