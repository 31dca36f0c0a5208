# Stand-in for quay.io/minio/minio, built by scripts/install-docker.sh --offline-images: the Go-built
# `minio` and `mc` on the local Debian base. As upstream, mc's default configuration has a `local`
# alias (http://localhost:9000), which the compose health check `mc ready local` uses.
ARG BASE_IMAGE=handson-local/debian:bookworm
FROM ${BASE_IMAGE}
COPY minio mc /usr/bin/
ENV MC_CONFIG_DIR=/tmp/.mc
EXPOSE 9000 9001
ENTRYPOINT ["/usr/bin/minio"]
CMD ["server", "/data"]
