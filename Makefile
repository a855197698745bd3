# registry-harness: every command sets up its own environment (.venv) first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Registry under test (empty TARGET = the embedded reference server) and its settings.
TARGET   ?=
TLS      ?=
USERNAME ?=
PASSWORD ?=
CA_BUNDLE ?=
ARGS     ?=

export OCI_TLS := $(TLS)
export OCI_USERNAME := $(USERNAME)
export OCI_PASSWORD := $(PASSWORD)
export OCI_CA_BUNDLE := $(CA_BUNDLE)

.PHONY: setup conformance test lint serve peers image clean bench-server bench-security bench-load load bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make conformance [TARGET=host:port] [TLS=enabled|insecure|disabled] [USERNAME=.. PASSWORD=..] [ARGS=..]
conformance: $(STAMP)
	$(PY) -m conformance $(if $(TARGET),--target $(TARGET)) $(ARGS)

## make test: the harness's own tests (server, suite truthfulness, peers, load)
test: $(STAMP)
	$(PY) -m pytest -n 2 -q $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

## make serve: the reference registry on 127.0.0.1:5000, data under ./data
serve: $(STAMP)
	$(PY) -m reference_server --listen 127.0.0.1:5000 --root ./data $(ARGS)

## make bench-server [ARGS=--quick]: the reference server's performance figures beside nginx, bare aiohttp and Distribution
bench-server: $(STAMP)
	$(PY) -m benchmarks.bench_server $(ARGS)

## make bench-load [ARGS=--quick|--rounds N|--seconds S]: the load generator beside wrk (small requests) and
## curl (whole blobs) against the same static registry layout served by nginx, pinned to separate cores
bench-load: $(STAMP)
	$(PY) -m benchmarks.bench_load $(ARGS)

## make bench-security [ARGS=--quick]: token-form memory, /v2/ under idle connections at the file limit,
## a push during a wrong-password flood, unknown-user vs wrong-password answer times
bench-security: $(STAMP)
	$(PY) -m benchmarks.security $(ARGS)

## make load PROFILE=pull|push|mixed|browse|herd [TARGET=host:port] [USERS=20] [SPAWN_RATE=..] [RUN_TIME=30s] [ARGS=..]
PROFILE  ?= pull
USERS    ?= 20
RUN_TIME ?= 30s
SPAWN_RATE ?=
load: $(STAMP)
	$(PY) -m load $(PROFILE) $(if $(TARGET),--target $(TARGET)) --users $(USERS) --run-time $(RUN_TIME) $(if $(SPAWN_RATE),--spawn-rate $(SPAWN_RATE)) $(ARGS)

## make bench [TARGET_A=host:port TARGET_B=host:port] [ARGS=..]: the same short profiles against both, side by side
## (no targets: the reference server against Distribution 2.8.2 from docker-registry)
TARGET_A ?=
TARGET_B ?=
bench: $(STAMP)
	$(PY) -m load.bench $(if $(TARGET_A),--target-a $(TARGET_A)) $(if $(TARGET_B),--target-b $(TARGET_B)) $(ARGS)

## make peers: the Debian packages the peer tests use (Distribution 2.8.2, skopeo, podman, wrk, nginx, curl,
## iproute2 for the multi-host load test, and a Docker engine with what the image tests need: docker.io,
## containerd, runc, busybox-static, debootstrap, docker-compose)
peers:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y docker-registry skopeo podman wrk nginx-light curl iproute2 \
	    docker.io containerd runc busybox-static debootstrap docker-compose

## make image [BASE_IMAGE=python:3.11-slim]: build the registry-harness image with the engine at DOCKER_HOST;
## without BASE_IMAGE from a Debian base made on this machine (root, debootstrap; cached in /var/cache)
BASE_IMAGE ?=
image: $(STAMP)
	base="$(BASE_IMAGE)"; [ -n "$$base" ] || base=$$($(PY) -m registry_harness.baseimage --import) || exit 2; \
	DOCKER_BUILDKIT=0 docker build --network host --build-arg BASE_IMAGE="$$base" -t registry-harness:latest .

clean:
	rm -rf $(VENV) results build *.egg-info
