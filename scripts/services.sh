#!/usr/bin/env bash
# Installs (Debian packages, as root) and starts the real services the tests use, then exports
# the variables that switch the service-backed tests on. Sourced by scripts/test.sh.

start_services() {
  :
}
