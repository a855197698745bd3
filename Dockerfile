# The reference registry as a container; the image also carries the conformance suite
# (`python -m conformance`) and the load profiles (`python -m load`, master or worker), so one image
# can test and load any registry it can reach.
#   docker build -t registry-harness .                      # from the public python:3.11-slim
#   docker build --network host --build-arg BASE_IMAGE=registry-harness-base:KEY -t registry-harness .
# The second form builds from a Debian base made on this machine (`make image` does both steps;
# see docs/docker.md): no image is pulled from anywhere. Any base with python3 (3.11+) and venv works.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/registry-harness/bin:$PATH

WORKDIR /src
COPY . .
RUN python3 -m venv /opt/registry-harness \
    && pip install --no-cache-dir '.[load]' \
    && useradd --system --home-dir /var/lib/registry --shell /usr/sbin/nologin registry \
    && mkdir -p /var/lib/registry /results \
    && chown registry:registry /var/lib/registry /results

USER registry
WORKDIR /var/lib/registry
VOLUME ["/var/lib/registry"]
EXPOSE 5000

HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/v2/', timeout=2)"]

CMD ["python", "-m", "reference_server", "--listen", "0.0.0.0:5000", "--root", "/var/lib/registry"]
