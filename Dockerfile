# Herald: API + workers in one process (override the command for --role api / --role workers).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The sources are not here yet: skip `prepare` (the build), run it below.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
# The build also precompiles the built-in templates into dist/.
COPY scripts/precompile-templates.mjs ./scripts/
COPY templates ./templates
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY templates ./templates
USER node
EXPOSE 8080
CMD ["node", "dist/src/main.js"]
