#!/usr/bin/env bash
# Installs (Debian packages, as root) and starts the real services the tests use, then exports
# the variables that switch the service-backed tests on. Sourced by scripts/test.sh.
#
# Every start_* function is idempotent: it reuses a service that already answers, so sourcing
# this file and calling start_services twice is safe.

# Where services keep their logs and state for this machine (not the checkout).
FAAS_RUN_DIR="${FAAS_RUN_DIR:-${TMPDIR:-/tmp}/faas-services}"

# Docker engine as a single-node Swarm manager advertising on 127.0.0.1.
# Installs Debian's docker.io when dockerd is missing (root only), starts dockerd in the
# background when the socket does not answer (log: $FAAS_RUN_DIR/dockerd.log), runs
# `docker swarm init` when the engine is not yet a manager, then exports FAAS_TEST_DOCKER=1.
start_docker() {
  local deadline
  if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null 2>&1; then
      if [ "$(id -u)" -ne 0 ]; then
        echo "start_docker: dockerd is not installed and this is not root." >&2
        echo "  Install and start Docker (Debian: sudo apt-get install -y docker.io &&" >&2
        echo "  sudo dockerd &), make the socket usable by this user, then run" >&2
        echo "  docker swarm init --advertise-addr 127.0.0.1" >&2
        return 1
      fi
      echo "start_docker: installing docker.io" >&2
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >&2 || return 1
    fi
    if [ "$(id -u)" -ne 0 ]; then
      echo "start_docker: the Docker engine does not answer and only root can start dockerd here." >&2
      echo "  Start it (sudo dockerd &) and make its socket usable by this user." >&2
      return 1
    fi
    mkdir -p "$FAAS_RUN_DIR"
    echo "start_docker: starting dockerd (log: $FAAS_RUN_DIR/dockerd.log)" >&2
    nohup dockerd >>"$FAAS_RUN_DIR/dockerd.log" 2>&1 &
    echo $! >"$FAAS_RUN_DIR/dockerd.pid"
    deadline=$((SECONDS + 60))
    until docker info >/dev/null 2>&1; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "start_docker: dockerd did not answer within 60 s; last log lines:" >&2
        tail -n 20 "$FAAS_RUN_DIR/dockerd.log" >&2
        return 1
      fi
      sleep 0.2
    done
  fi
  if [ "$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null)" != "true" ]; then
    echo "start_docker: docker swarm init --advertise-addr 127.0.0.1" >&2
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null || return 1
  fi
  export FAAS_TEST_DOCKER=1
  # The engine-restart test stops and starts dockerd: only allowed for a dockerd this script
  # started (its pid is in dockerd.pid), never for one the machine's owner runs.
  if [ -f "$FAAS_RUN_DIR/dockerd.pid" ] && [ "$(pidof dockerd)" = "$(cat "$FAAS_RUN_DIR/dockerd.pid")" ]; then
    export FAAS_TEST_DOCKER_RESTART=1 FAAS_RUN_DIR
  else
    echo "start_docker: dockerd was not started by this script; the engine-restart test will skip" >&2
  fi
}

# NATS with JetStream on 127.0.0.1 (port $FAAS_NATS_PORT, default 4222; store in
# $FAAS_RUN_DIR/nats). Installs Debian's nats-server when missing (root only), starts it in the
# background when nothing answers on the port (log: $FAAS_RUN_DIR/nats.log), waits until it
# accepts connections, then exports FAAS_TEST_NATS_URL so the NATS tests run.
start_nats() {
  local port="${FAAS_NATS_PORT:-4222}" deadline
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    if ! command -v nats-server >/dev/null 2>&1; then
      if [ "$(id -u)" -ne 0 ]; then
        echo "start_nats: nats-server is not installed and this is not root." >&2
        echo "  Install it (Debian: sudo apt-get install -y nats-server) and rerun." >&2
        return 1
      fi
      echo "start_nats: installing nats-server" >&2
      DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >&2 || return 1
    fi
    mkdir -p "$FAAS_RUN_DIR/nats"
    echo "start_nats: starting nats-server -js on 127.0.0.1:$port (log: $FAAS_RUN_DIR/nats.log)" >&2
    nohup nats-server -a 127.0.0.1 -p "$port" -js -sd "$FAAS_RUN_DIR/nats" >>"$FAAS_RUN_DIR/nats.log" 2>&1 &
    echo $! >"$FAAS_RUN_DIR/nats.pid"
    deadline=$((SECONDS + 30))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "start_nats: nats-server did not accept connections within 30 s; last log lines:" >&2
        tail -n 20 "$FAAS_RUN_DIR/nats.log" >&2
        return 1
      fi
      sleep 0.1
    done
  fi
  export FAAS_TEST_NATS_URL="nats://127.0.0.1:$port"
}

# Both services; stops at the first that cannot be started, so the test run fails loudly
# instead of silently skipping the service-backed tests.
start_services() {
  start_docker || return 1
  start_nats || return 1
}
