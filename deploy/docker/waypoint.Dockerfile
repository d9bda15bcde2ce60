# ambit-waypoint: waypoint, ingress and egress gateway. No privileges, runs as 1337.
# docker build -f deploy/docker/waypoint.Dockerfile -t ghcr.io/ambit-mesh/waypoint:0.1.0 .
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY core/native ./core/native
# The memory addon (core/native: glibc malloc_trim, to give freed TLS/HTTP/2 buffers back after a
# load); without it the waypoint runs the same, without the trim.
RUN npm ci --no-audit --no-fund --ignore-scripts && node scripts/build-native.mjs core
COPY . .
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --ignore-scripts

FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/proto ./proto
COPY --from=build /src/core/native/build/Release/*.node ./core/native/build/Release/
COPY --from=build /src/package.json ./
USER 1337:1337
EXPOSE 15008 15020 15021
ENTRYPOINT ["/nodejs/bin/node", "dist/waypoint/main.js"]
