#!/usr/bin/env bash
# The quickstart in one step: builds api2mcp and the sample petstore API,
# starts both on 127.0.0.1 (no internet needed), shows a tool call, and serves
# MCP at http://127.0.0.1:8080/mcp until Ctrl-C.
#
#   examples/quickstart/run.sh           run and keep serving
#   examples/quickstart/run.sh --smoke   run, check every transport once, stop
set -euo pipefail
cd "$(dirname "$0")/../.."

smoke=false
[ "${1:-}" = "--smoke" ] && smoke=true
export PETSTORE_API_KEY="${PETSTORE_API_KEY:-quickstart-secret-key}"
config=examples/quickstart/mcp.yaml

mkdir -p bin
go build -o bin/api2mcp ./cmd/api2mcp
go build -o bin/petstore ./examples/quickstart/petstore

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # host port
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1:$2" >&2
  return 1
}

bin/petstore --listen 127.0.0.1:8081 & pids+=($!)
wait_port 127.0.0.1 8081

bin/api2mcp validate -c "$config"
echo "--- api2mcp call find_pets (the same call an agent makes):"
bin/api2mcp call -c "$config" find_pets --args '{"status":"available"}' --log-level warn

bin/api2mcp serve -c "$config" & pids+=($!)
wait_port 127.0.0.1 8080

if $smoke; then
  post() {
    exec 3<>/dev/tcp/127.0.0.1/8080
    printf 'POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "${#1}" "$1" >&3
    cat <&3
    exec 3<&-
  }
  out=$(post '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_pet","arguments":{"id":1}}}')
  case "$out" in
    *'"structuredContent":{"id":1,"name":"Rex"'*) echo "--- smoke: POST /mcp tools/call get_pet: ok" ;;
    *) echo "--- smoke: unexpected answer from /mcp:"; echo "$out"; exit 1 ;;
  esac
  case "$out" in *"$PETSTORE_API_KEY"*) echo "the secret reached the client"; exit 1 ;; esac
  exit 0
fi

cat <<'MSG'

api2mcp serves the petstore tools at http://127.0.0.1:8080/mcp (legacy SSE: /sse).
  MCP Inspector:   npx @modelcontextprotocol/inspector   (transport "Streamable HTTP", URL above)
  Claude Desktop:  {"mcpServers": {"petstore": {"command": "npx", "args": ["mcp-remote", "http://127.0.0.1:8080/mcp"]}}}
  curl:            curl -s http://127.0.0.1:8080/mcp -H 'Content-Type: application/json' \
                     -H 'Accept: application/json, text/event-stream' \
                     -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
Ctrl-C stops both servers.
MSG
wait
