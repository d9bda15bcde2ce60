# ambit-agent: the node agent, with the netns and memory addons and iptables (for CHECK/repair).
# docker build -f deploy/docker/agent.Dockerfile -t ghcr.io/ambit-mesh/agent:0.1.0 .
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY agent/native ./agent/native
COPY core/native ./core/native
RUN npm ci --no-audit --no-fund --ignore-scripts && node scripts/build-native.mjs agent core
COPY . .
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends iptables iproute2 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/proto ./proto
COPY --from=build /src/agent/native/build/Release/*.node ./agent/native/build/Release/
COPY --from=build /src/core/native/build/Release/*.node ./core/native/build/Release/
COPY --from=build /src/package.json ./
# Needs CAP_SYS_ADMIN (setns) and CAP_NET_ADMIN (SO_MARK, IP_TRANSPARENT); see the chart.
EXPOSE 15020 15021 15080
# V8 flags: agent/node-flags.ts (agent/node-flags.test.ts checks this line against it).
ENTRYPOINT ["node", "--max-semi-space-size=1", "dist/agent/main.js"]
