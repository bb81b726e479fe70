// client.mjs drives a running api2mcp with the official MCP TypeScript SDK
// client and prints one JSON report on stdout. e2e_test.go runs it:
//
//   node client.mjs http  URL             Streamable HTTP (POST URL, e.g. http://127.0.0.1:PORT/mcp)
//   node client.mjs sse   URL             legacy HTTP+SSE (GET URL, e.g. http://127.0.0.1:PORT/sse)
//   node client.mjs stdio BINARY CONFIG   spawns BINARY stdio -c CONFIG
//
// Tool results (isError or not) and protocol errors ({code, message}) are
// recorded as they come; judging them is the Go test's job. Anything else
// that goes wrong exits 1 with the error on stderr.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';

// requestTimeout bounds every MCP request; overallTimeout the whole run.
const requestTimeout = 15_000;
const overallTimeout = 60_000;

// calls are made in this order; the keys name them in the report.
const calls = [
  ['ok', 'get_pet', { id: 1 }],
  ['list', 'find_pets', { status: 'pending' }],
  ['not_found', 'get_pet', { id: 99 }],
  ['bad_args', 'get_pet', { id: 'one', colour: 'red' }],
  ['unknown_tool', 'no_such_tool', {}],
  // Cached: the second call is answered without asking the upstream.
  ['cached_1', 'get_pet_cached', { id: 2 }],
  ['cached_2', 'get_pet_cached', { id: 2 }],
];

// cancelAfter: the 'slow' call is aborted after this long, which makes the
// SDK send notifications/cancelled.
const cancelAfter = 300;

function transportFor(args) {
  const [mode, target, config] = args;
  switch (mode) {
    case 'http':
      if (!target) break;
      return new StreamableHTTPClientTransport(new URL(target));
    case 'sse':
      if (!target) break;
      return new SSEClientTransport(new URL(target));
    case 'stdio':
      if (!target || !config) break;
      // The SDK passes only a few safe variables by default; the server
      // needs the caller's environment for its ${VAR} secrets. Its log goes
      // to our stderr.
      return new StdioClientTransport({
        command: target,
        args: ['stdio', '-c', config, '--log-format', 'text'],
        env: process.env,
        stderr: 'inherit',
      });
  }
  throw new Error('usage: node client.mjs http URL | sse URL | stdio BINARY CONFIG');
}

// isServerError reports whether err is a JSON-RPC error sent by the server,
// as opposed to a transport failure or a timeout on our side.
function isServerError(err) {
  return err instanceof McpError && err.code !== ErrorCode.RequestTimeout && err.code !== ErrorCode.ConnectionClosed;
}

async function main() {
  const transport = transportFor(process.argv.slice(2));
  const client = new Client({ name: 'api2mcp-e2e', version: '1.0.0' });
  const opts = { timeout: requestTimeout };
  await client.connect(transport, opts);

  const report = {
    server: client.getServerVersion(),
    session: Boolean(transport.sessionId), // a Streamable HTTP session (Mcp-Session-Id)
    tools: [],
    calls: {},
  };
  const { tools } = await client.listTools(undefined, opts);
  report.tools = tools.map((t) => t.name);

  for (const [key, name, args] of calls) {
    try {
      report.calls[key] = { result: await client.callTool({ name, arguments: args }, undefined, opts) };
    } catch (err) {
      if (!isServerError(err)) throw err;
      report.calls[key] = { error: { code: err.code, message: err.message } };
    }
  }

  const abort = new AbortController();
  setTimeout(() => abort.abort('e2e cancels'), cancelAfter);
  try {
    await client.callTool({ name: 'slow', arguments: {} }, undefined, { ...opts, signal: abort.signal });
    report.cancelled = false;
  } catch (err) {
    report.cancelled = abort.signal.aborted;
  }

  if (transport instanceof StreamableHTTPClientTransport) {
    await transport.terminateSession(); // DELETE; a no-op without a session
  }
  await client.close();
  return report;
}

setTimeout(() => {
  console.error(`client.mjs: no result within ${overallTimeout / 1000}s`);
  process.exit(1);
}, overallTimeout);

main().then(
  (report) => process.stdout.write(JSON.stringify(report, null, 2) + '\n', () => process.exit(0)),
  (err) => {
    console.error('client.mjs:', err?.stack ?? err);
    process.exit(1);
  },
);
