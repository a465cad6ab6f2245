# Two commands do all set-up on a fresh Debian 12 machine (as root):
#   make run   - install what is missing, then serve the API on :9696 and OpenFlow on :6653
#   make test  - install what is missing, then run the whole test suite
SHELL := /bin/bash
VENV ?= .venv
SYSTEM_PYTHON := /usr/bin/python3
APT_PACKAGES := python3-venv python3-pip openvswitch-switch mininet iperf3 ethtool \
                iputils-ping tcpdump socat postgresql haproxy busybox chromium chromium-driver
STATE_DIR ?= var
DB_URL ?= sqlite:///$(STATE_DIR)/qnet.sqlite
AUTH ?= token
MODE ?= overlay
PYTEST_ARGS ?=

# Only the benchmarks' peers need these (simulations/peers/): OVN on the lab, Neutron's API.
PEER_APT_PACKAGES := ovn-central ovn-host mariadb-server

.PHONY: run test setup system-packages clean peers

setup: system-packages $(VENV)/.installed

# Installs only the Debian packages that are missing, so a second run costs nothing.
system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# The venv sees Debian's site-packages so that `import mininet` works inside it.
$(VENV)/.installed: setup.py
	$(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

run: setup
	mkdir -p $(STATE_DIR)
	$(VENV)/bin/qnet serve --db-url '$(DB_URL)' --auth $(AUTH) --mode $(MODE)

test: setup
	$(VENV)/bin/python -m pytest -q -rs $(PYTEST_ARGS) tests

# The peers the benchmarks compare against (docs/benchmarks.md); `make test` never needs them.
peers: setup
	@missing=$$(for p in $(PEER_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	simulations/peers/neutron.sh install

clean:
	rm -rf $(VENV) $(STATE_DIR)
