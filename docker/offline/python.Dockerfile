# Stand-in for python:3.11-slim, built by scripts/install-docker.sh --offline-images from the local
# Debian base: Debian's Python 3.11 in a virtual environment that comes first on PATH, so `python` and
# `pip install` behave as in the upstream image. The build context's ca/ holds the certificate
# authorities the host added to its store; pip uses the system store, so it reaches PyPI as the host does.
ARG BASE_IMAGE=handson-local/debian:bookworm
FROM ${BASE_IMAGE}
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* /usr/local/share/ca-certificates/.keep \
    && update-ca-certificates \
    && python3 -m venv /opt/python \
    && printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >/etc/pip.conf
ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    VIRTUAL_ENV=/opt/python
