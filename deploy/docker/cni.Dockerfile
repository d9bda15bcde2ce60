# ambit-cni installer. The plugin itself is a single executable (Node SEA), so the node
# needs no Node.js: `ambit-cni install` copies it into the host's CNI bin dir.
# docker build -f deploy/docker/cni.Dockerfile -t ghcr.io/ambit-mesh/cni:0.1.0 .
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npx tsc -p tsconfig.json && node scripts/build-cni-sea.mjs --out /out/ambit-cni

FROM debian:bookworm-slim
COPY --from=build /out/ambit-cni /usr/local/bin/ambit-cni
ENTRYPOINT ["/usr/local/bin/ambit-cni"]
