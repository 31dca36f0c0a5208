# Stand-in for quay.io/minio/mc, built by scripts/install-docker.sh --offline-images: the Go-built `mc`
# on the local Debian base (docker-compose.yml replaces the entrypoint with /bin/sh -c).
ARG BASE_IMAGE=handson-local/debian:bookworm
FROM ${BASE_IMAGE}
COPY mc /usr/bin/
ENTRYPOINT ["/usr/bin/mc"]
