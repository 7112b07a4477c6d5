# syntax=docker/dockerfile:1
# The Flotilla hub image: `flotilla` (the hub and the CLI) on Node 24 LTS, with the pinned kustomize
# and helm the hub renders with. Build it from the repository root:
#   docker build -f deploy/docker/hub.Dockerfile -t ghcr.io/flotilla-dev/flotilla-hub:0.1.0 .
# It runs as UID/GID 10001 and works with a read-only root filesystem: it writes only to
# /var/lib/flotilla (data: PGlite, CA, admin token), /var/cache/flotilla (Git and render cache) and /tmp.

ARG NODE_IMAGE=node:24.21.0-trixie-slim
ARG GO_IMAGE=golang:1.26-trixie

# kustomize and helm, built from their Go modules at the versions the tests pin
# (e2e/src/harness/tools.ts); deploy-images.test.ts checks that the two agree.
FROM ${GO_IMAGE} AS tools
ARG KUSTOMIZE_VERSION=v5.8.2
ARG HELM_VERSION=v3.22.0
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN=/out GOFLAGS=-trimpath
RUN go install -ldflags="-s -w" "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}" \
 && go install -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
      "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"

FROM ${NODE_IMAGE} AS build
ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0
WORKDIR /src
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY proto/package.json proto/
COPY hub/package.json hub/
COPY agent/package.json agent/
COPY e2e/package.json e2e/
RUN corepack enable pnpm && pnpm install --frozen-lockfile --filter "@flotilla/hub..." --filter flotilla
COPY tsconfig.base.json ./
COPY proto proto
COPY hub hub
COPY deploy/docker/bundle.sh deploy/docker/
RUN deploy/docker/bundle.sh hub /out

FROM ${NODE_IMAGE}
LABEL org.opencontainers.image.title="flotilla-hub" \
      org.opencontainers.image.description="Flotilla hub: multi-cluster GitOps control plane"
ENV NODE_ENV=production \
    HOME=/tmp \
    FLOTILLA_DATA_DIR=/var/lib/flotilla/hub \
    FLOTILLA_CACHE_DIR=/var/cache/flotilla \
    FLOTILLA_LISTEN_HTTP=0.0.0.0:8443
COPY --from=tools /out/kustomize /out/helm /usr/local/bin/
COPY --from=build /out /opt/flotilla/hub
RUN chmod 0755 /opt/flotilla/hub/dist/cli/main.js \
 && ln -s /opt/flotilla/hub/dist/cli/main.js /usr/local/bin/flotilla \
 && mkdir -p /var/lib/flotilla /var/cache/flotilla \
 && chown 10001:10001 /var/lib/flotilla /var/cache/flotilla
USER 10001:10001
EXPOSE 8443
VOLUME ["/var/lib/flotilla"]
ENTRYPOINT ["flotilla"]
CMD ["hub", "serve"]
