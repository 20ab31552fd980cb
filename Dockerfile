# The densekit command in a container; the job files in deploy/ run this image.
#   docker build -t densekit:0.1.0 .
#   docker run --rm -v "$PWD/data:/data" densekit:0.1.0 predict -c /data/config.yaml -w /data/model.safetensors -i /data/images -o /data/results.json
FROM node:20-slim
WORKDIR /opt/densekit
COPY . .
# npm ci installs exactly the lockfile (.npmrc: onnxruntime-node's CPU and WebGPU
# providers, no CUDA download, so only the npm registry is needed) and builds
# dist/ (the prepare script); the build tools are dropped afterwards.
RUN npm ci \
 && npm prune --omit=dev \
 && npm cache clean --force \
 && ln -s /opt/densekit/bin/densekit.js /usr/local/bin/densekit \
 && mkdir -p /cache \
 && chown node:node /cache
ENV NODE_ENV=production \
    DENSEKIT_CACHE=/cache
USER node
ENTRYPOINT ["densekit"]
CMD ["--help"]
