# One image for every ratchet process; the command picks api, worker or the migrator.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Install first, so that the dependencies' layer is kept while only the sources change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY prisma ./prisma
COPY scripts ./scripts
COPY apps ./apps
COPY libs ./libs
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# The memory and V8 thread settings of the npm start scripts (libs/config/src/memory-profile.ts),
# the API's; docker-compose.yml gives the worker its larger young generation on its command line.
ENV NODE_OPTIONS="--max-semi-space-size=2 --v8-pool-size=1" MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=131072 MALLOC_MMAP_THRESHOLD_=81920
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma ./prisma
USER node
EXPOSE 8080
CMD ["node", "dist/apps/api/main.js"]
