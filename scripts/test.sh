#!/usr/bin/env bash
# The whole test suite, as the README says and CI runs it: starts the real services the
# service-backed tests need (Docker engine as a Swarm manager, NATS JetStream), exports the
# variables that switch those tests on, then runs every test and doctest of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/services.sh
source scripts/services.sh
start_services || { echo "scripts/test.sh: the services the tests need could not be started" >&2; exit 1; }

cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
