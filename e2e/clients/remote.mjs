// remote.mjs bridges to api2mcp through mcp-remote (stdio ⇄ Streamable HTTP
// or SSE), as Claude Desktop does, and drives it with the TypeScript SDK
// client: `node remote.mjs URL http-only|sse-only`. Prints one JSON report.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const [url, transport] = process.argv.slice(2);
const bridge = new StdioClientTransport({
  command: process.execPath,
  args: ['node_modules/mcp-remote/dist/proxy.js', url, '--transport', transport],
  env: { ...process.env },
  stderr: 'ignore',
});
const client = new Client({ name: 'api2mcp-e2e-remote', version: '1.0.0' });
const opts = { timeout: 45_000 }; // generous: CI machines are shared
setTimeout(() => { console.error('timed out'); process.exit(1); }, 80_000).unref();
await client.connect(bridge, opts);
const { tools } = await client.listTools(undefined, opts);
const ok = await client.callTool({ name: 'get_pet', arguments: { id: 1 } }, undefined, opts);
const missing = await client.callTool({ name: 'get_pet', arguments: { id: 99 } }, undefined, opts);
console.log(JSON.stringify({ tools: tools.map((t) => t.name), ok, missing }));
await client.close();
