# roomgate: multi-stage build on Debian 12 with Node 20 (>= 20.19, werift needs require(esm)).
# Keep the package lists in sync with scripts/setup.

FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libavformat-dev libavcodec-dev libswresample-dev libopus-dev pkg-config g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# better-sqlite3 (allowed in package.json's allowScripts) may compile from source: the image's own Node headers.
RUN npm_config_nodedir=/usr/local npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY native ./native
COPY scripts ./scripts
COPY src ./src
COPY test ./test
COPY config ./config
COPY bin ./bin
COPY web ./web
# node:20 images carry Node's headers under /usr/local; build-native finds them there.
RUN node scripts/build-native.mjs && npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
# Runtime: ffmpeg for pull tasks; the shared libraries the media addon links (libavformat, libavcodec, libswresample, libopus);
# Python 3 + GStreamer for the mixed-recording compositor (native/mix/compositor.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg libavformat59 libavcodec59 libswresample4 libopus0 ca-certificates \
    python3 python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
# Every addon (AAC → Opus, SRTP send and receive); without one the gateway falls back to a slower path.
COPY --from=build /app/native/build/Release/*.node ./native/build/Release/
# The mixed-recording compositor, run as a child (src/mix/compositor.ts).
COPY --from=build /app/native/mix ./native/mix
COPY --from=build /app/config ./config
COPY --from=build /app/bin ./bin
COPY --from=build /app/web ./web
# store.file (data/roomgate.db: the room and user history) must be writable by the gateway's user; mount a volume
# at /app/data to keep the history across containers.
RUN useradd --system --home /app roomgate && mkdir -p /app/data && chown roomgate /app/data
VOLUME ["/app/data"]
USER roomgate
# RTMP, HTTP (WHIP/WHEP/API/health), and the WebRTC UDP range.
EXPOSE 1935/tcp 8080/tcp 40000-40999/udp
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.ROOMGATE_HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# In a container the listeners must bind 0.0.0.0, which needs your own keys (the demo key is loopback-only):
# mount a config with --config, or set ROOMGATE_APPS / ROOMGATE_API_CREDENTIALS.
ENV ROOMGATE_RTMP_HOST=0.0.0.0 ROOMGATE_HTTP_HOST=0.0.0.0
ENTRYPOINT ["node", "bin/roomgate"]
CMD ["serve"]
