# spot-server on Cloud Run. Build: docker build -t spot-server . (or `deno task deploy`, which
# uses Cloud Build). Pinned Deno image; dependencies cached at build time from the lockfile;
# runs as the image's non-root `deno` user with narrowed permissions.
FROM denoland/deno:2.9.6

WORKDIR /app
# Keep the module cache inside the app directory so it ships in the image (not fetched at start).
ENV DENO_DIR=/app/.deno_cache

# Dependencies first, for layer caching: only the manifest and the lockfile.
COPY deno.json deno.lock ./
COPY . .
RUN deno install --frozen --entrypoint main.ts ingest.ts lib/store/firestore.ts lib/store/firestore_client.ts \
 && deno task build \
 && mkdir -p /app/data \
 && chown -R deno:deno /app/.deno_cache /app/data /app/static

USER deno
ENV PORT=8080 STORE=firestore LOG_FORMAT=json
EXPOSE 8080
# --cached-only: a missing dependency fails fast instead of reaching for the network.
# Reads are not narrowed to /app: Google's auth library probes well-known credential paths
# (ADC files, gcloud config) before the metadata server, and without a TTY a denied read is a
# hard error rather than a fallback. Writes stay limited to the KV directory and /tmp.
# --max-semi-space-size=2: a small young generation halves RSS (≈250 → ≈125 MB at 1,000
# products on KV, measured) for a little more GC work; --max-old-space-size=384 makes V8
# collect before RSS nears Cloud Run's 512 MiB (bench, 1,000 products: peak RSS 128 MB on KV,
# 159 MB on Firestore).
CMD ["run", "--v8-flags=--max-semi-space-size=2,--max-old-space-size=384", "--cached-only", "--frozen", "--allow-net", "--allow-env", "--allow-sys", "--allow-read", "--allow-write=/app/data,/tmp", "main.ts"]
