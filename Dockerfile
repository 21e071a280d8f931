# wanderer-kills: multi-stage build, small non-root runtime image.
#   docker build -t wanderer-kills .
#   docker run -p 4004:4004 -v wk-data:/data wanderer-kills

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY actors/Cargo.toml actors/
# Every target the manifests declare needs a file, even the ones this build does not compile
# (the engine's benches): stubs stand in for all of them.
RUN mkdir -p src actors/src actors/benches tests/api \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs actors/src/lib.rs tests/api/main.rs \
 && for bench in $(awk '/^\[\[bench\]\]/{b=1; next} b && /^name/{gsub(/^name *= *"|"$/, ""); print; b=0}' actors/Cargo.toml); do \
      echo 'fn main() {}' > "actors/benches/$bench.rs"; \
    done \
 && cargo build --release --locked \
 && rm -rf src actors/src actors/benches tests
COPY . .
RUN touch src/main.rs src/lib.rs actors/src/lib.rs \
 && cargo build --release --locked --bin wanderer-kills

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin wk \
 && mkdir -p /data && chown wk /data
COPY --from=build /src/target/release/wanderer-kills /usr/local/bin/wanderer-kills
COPY config /app/config
COPY priv /app/priv
WORKDIR /app
ENV APP_ENVIRONMENT=production DATA_DIR=/data PORT=4004
USER wk
VOLUME /data
EXPOSE 4004
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 CMD ["wanderer-kills", "healthcheck"]
ENTRYPOINT ["wanderer-kills"]
