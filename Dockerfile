# The reference registry as a container: `docker build -t registry-harness .` then
# `docker run -p 127.0.0.1:5000:5000 registry-harness`. The image also carries the conformance
# suite (`python -m conformance`), so one image can test any registry it can reach.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY . .
RUN pip install --no-cache-dir . \
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
