#!/bin/sh
# Builds one Flotilla package and writes a self-contained production copy of it to OUT_DIR:
# compiled JavaScript, the hub's migrations and dashboard, and production node_modules only.
# The Dockerfiles run it in their build stage; e2e/src/deploy-images.test.ts runs the same
# script and starts what it wrote, so the image's contents are tested without a Docker engine.
#
# Usage: deploy/docker/bundle.sh hub|agent OUT_DIR   (from a workspace after `pnpm install`)
# PNPM names the pnpm command (default: pnpm; for example PNPM="corepack pnpm").
set -eu

package=${1:-}
out=${2:-}
case "${package}" in
  hub | agent) ;;
  *)
    echo "usage: bundle.sh hub|agent OUT_DIR (got package \"${package}\")" >&2
    exit 2
    ;;
esac
if [ -z "${out}" ]; then
  echo "usage: bundle.sh hub|agent OUT_DIR (OUT_DIR is missing)" >&2
  exit 2
fi
if [ -e "${out}" ]; then
  echo "bundle.sh: ${out} already exists; give a new directory" >&2
  exit 2
fi
pnpm=${PNPM:-pnpm}
cd "$(dirname "$0")/../.."

echo "bundle: building @flotilla/${package} and the packages it uses" >&2
${pnpm} --filter "@flotilla/${package}..." run build
echo "bundle: copying @flotilla/${package} with its production dependencies to ${out}" >&2
# --legacy: copies workspace packages (here @flotilla/proto) instead of needing
# inject-workspace-packages for the whole workspace.
${pnpm} --filter "@flotilla/${package}" deploy --prod --legacy "${out}" >/dev/null

# What runs is dist/ (and the hub's drizzle/ migrations): sources, type declarations and build
# files stay out, also of the copied @flotilla/proto.
rm -rf "${out}/src" "${out}/web" "${out}/scripts" "${out}/tsconfig.json" "${out}/drizzle.config.ts"
for proto in "${out}"/node_modules/.pnpm/@flotilla+proto*/node_modules/@flotilla/proto; do
  [ -d "${proto}" ] || continue
  rm -rf "${proto}/src" "${proto}/flotilla" "${proto}/buf.gen.yaml" "${proto}/buf.yaml" "${proto}/tsconfig.json"
done
find "${out}" -path "${out}/node_modules/.pnpm/@flotilla+proto*" -name '*.d.ts' -delete
find "${out}/dist" -name '*.d.ts' -delete
echo "bundle: wrote ${out} ($(du -sh "${out}" | cut -f1))" >&2
