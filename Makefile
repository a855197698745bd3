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

.PHONY: setup conformance test lint serve peers clean bench-server

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

## make peers: the Debian packages the peer tests use (Distribution 2.8.2, skopeo, podman, wrk, nginx)
peers:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y docker-registry skopeo podman wrk nginx-light

clean:
	rm -rf $(VENV) results build *.egg-info
