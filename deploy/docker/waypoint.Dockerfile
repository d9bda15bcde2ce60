# ambit-waypoint: waypoint, ingress and egress gateway. No privileges, runs as 1337.
# docker build -f deploy/docker/waypoint.Dockerfile -t ghcr.io/ambit-mesh/waypoint:0.1.0 .
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --ignore-scripts

FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/proto ./proto
COPY --from=build /src/package.json ./
USER 1337:1337
EXPOSE 15008 15020 15021
ENTRYPOINT ["/nodejs/bin/node", "dist/waypoint/main.js"]
