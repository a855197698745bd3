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

# TARGET reaches the tools as one value through the environment (never split by the shell), so a
# malformed one is reported by the tool in one line.
export TARGET
export OCI_TLS := $(TLS)
export OCI_USERNAME := $(USERNAME)
export OCI_PASSWORD := $(PASSWORD)
export OCI_CA_BUNDLE := $(CA_BUNDLE)

.PHONY: setup conformance matrix test lint serve peers image clean bench-server bench-security bench-load load bench

setup: $(STAMP)

# -qq: errors only (no index-location warnings); the setuptools notice about editable installs is
# information, not a warning, and is silenced for the build.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -qq
SETUP_SPEC ?= .[dev]
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) -e '$(SETUP_SPEC)' $(PIP_ARGS)
	touch $(STAMP)

## make conformance [TARGET=host:port] [TLS=enabled|insecure|disabled] [USERNAME=.. PASSWORD=..] [ARGS=..]
## The last line names the tool's exit code (0 pass, 1 failures, 2 configuration error): make itself
## reports any failure as its own 2. CI gates that need 0/1/2 run `.venv/bin/registry-conformance` directly.
conformance: $(STAMP)
	@$(PY) -m conformance $(ARGS); $(PY) -m conformance.exit_codes $$?

## make matrix TARGETS="host:port name=host:port ..." [ARGS=..]: the suite against each registry, one
## compatibility matrix (results/matrix/matrix.html and matrix.md)
TARGETS ?=
matrix: $(STAMP)
	@$(PY) -m conformance matrix $(TARGETS) $(ARGS)

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
	$(PY) -m load $(PROFILE) --users $(USERS) --run-time $(RUN_TIME) $(if $(SPAWN_RATE),--spawn-rate $(SPAWN_RATE)) $(ARGS)

## make bench [TARGET_A=host:port TARGET_B=host:port] [ARGS=..]: the same short profiles against both, side by side
## (no targets: the reference server against Distribution 2.8.2 from docker-registry)
TARGET_A ?=
TARGET_B ?=
bench: $(STAMP)
	$(PY) -m load.bench $(if $(TARGET_A),--target-a "$(TARGET_A)") $(if $(TARGET_B),--target-b "$(TARGET_B)") $(ARGS)

## make peers: the Debian packages the peer tests use (Distribution 2.8.2, skopeo, podman, wrk, nginx, curl,
## iproute2 for the multi-host load test, chromium for the report page's browser test, and a Docker engine with what the image tests need: docker.io,
## containerd, runc, busybox-static, debootstrap, docker-compose)
peers:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y docker-registry skopeo podman wrk nginx-light curl iproute2 \
	    docker.io containerd runc busybox-static debootstrap docker-compose chromium

## make image [BASE_IMAGE=python:3.11-slim]: build the registry-harness image with the engine at DOCKER_HOST;
## without BASE_IMAGE from a Debian base made on this machine (root, debootstrap; cached in /var/cache)
BASE_IMAGE ?=
image: $(STAMP)
	base="$(BASE_IMAGE)"; [ -n "$$base" ] || base=$$($(PY) -m registry_harness.baseimage --import) || exit 2; \
	DOCKER_BUILDKIT=0 docker build --network host --build-arg BASE_IMAGE="$$base" -t registry-harness:latest .

clean:
	rm -rf $(VENV) results build *.egg-info
