// auth_client.mjs drives an api2mcp behind the OAuth front door with the
// official MCP TypeScript SDK client and its OAuth machinery, and prints one
// JSON report on stdout. e2e_test.go runs it:
//
//   E2E_TOKEN=… node auth_client.mjs URL
//
// E2E_TOKEN holds the scopes mcp and pets:read, not pets:write. Three runs:
//   1. without a token: the SDK gets the 401, follows resource_metadata to
//      the protected-resource metadata and the authorization server's
//      metadata, and starts an authorization (recorded, not followed);
//   2. with the token: it lists and calls tools;
//   3. with the token, a tool that needs pets:write: the 403
//      insufficient_scope challenge makes the SDK start a step-up
//      authorization for the scopes the challenge names;
//   4. through mcp-remote (stdio to Streamable HTTP) with the token in a
//      header file: list and call.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const requestTimeout = 15_000;
const overallTimeout = 60_000;

// RecordingProvider is an OAuth client that holds a token (or none) and
// records the discovery the SDK made and the authorization it would start.
class RecordingProvider {
  constructor(token) {
    this.token = token;
    this.discovery = undefined;
    this.redirect = undefined;
    this.verifier = '';
  }
  get redirectUrl() { return 'http://127.0.0.1:9/callback'; }
  get clientMetadata() { return { client_name: 'api2mcp-e2e', redirect_uris: ['http://127.0.0.1:9/callback'] }; }
  clientInformation() { return { client_id: 'e2e-client' }; } // pre-registered
  tokens() { return this.token ? { access_token: this.token, token_type: 'Bearer' } : undefined; }
  saveTokens(tokens) { this.token = tokens.access_token; }
  redirectToAuthorization(url) { this.redirect = url.toString(); }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
  saveDiscoveryState(state) { this.discovery = state; }
  discoveryState() { return this.discovery; }
  invalidateCredentials() {}
}

function describe(err) {
  return { name: err?.constructor?.name ?? 'Error', message: String(err?.message ?? err), code: err?.code };
}

function newClient() {
  return new Client({ name: 'api2mcp-e2e-auth', version: '1.0.0' });
}

async function main() {
  const url = new URL(process.argv[2]);
  const token = process.env.E2E_TOKEN;
  if (!process.argv[2] || !token) throw new Error('usage: E2E_TOKEN=… node auth_client.mjs URL');
  const opts = { timeout: requestTimeout };
  const report = {};

  // 1. No token.
  {
    const provider = new RecordingProvider(undefined);
    const client = newClient();
    try {
      await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }), opts);
      report.unauthorized = { connected: true };
    } catch (err) {
      report.unauthorized = {
        error: describe(err),
        resource_metadata: provider.discovery?.resourceMetadata,
        authorization_server: provider.discovery?.authorizationServerUrl,
        redirect: provider.redirect,
      };
    }
  }

  // 2. A token: list and call.
  const provider = new RecordingProvider(token);
  const client = newClient();
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }), opts);
  const { tools } = await client.listTools(undefined, opts);
  report.tools = tools.map((t) => t.name).sort();
  report.call = await client.callTool({ name: 'get_pet', arguments: { id: 1 } }, undefined, opts);
  report.denied = await client.callTool({ name: 'get_pet', arguments: { id: 3 } }, undefined, opts);

  // 3. A tool the token has no scope for.
  try {
    report.step_up = { result: await client.callTool({ name: 'add_pet', arguments: { name: 'Tom' } }, undefined, opts) };
  } catch (err) {
    report.step_up = { error: describe(err), redirect: provider.redirect };
  }
  await client.close();

  // 4. mcp-remote bridging stdio to the protected server.
  const dir = mkdtempSync(join(tmpdir(), 'api2mcp-mcp-remote-'));
  const headers = join(dir, 'headers.txt');
  writeFileSync(headers, `Authorization: Bearer ${token}\n`, { mode: 0o600 });
  const bridge = newClient();
  await bridge.connect(new StdioClientTransport({
    command: process.execPath,
    args: ['node_modules/mcp-remote/dist/proxy.js', url.toString(), '--header-file', headers, '--transport', 'http-only'],
    env: { ...process.env, MCP_REMOTE_CONFIG_DIR: dir },
    stderr: 'ignore',
  }), opts);
  const bridged = await bridge.listTools(undefined, opts);
  report.remote_tools = bridged.tools.map((t) => t.name).sort();
  report.remote_call = await bridge.callTool({ name: 'get_pet', arguments: { id: 2 } }, undefined, opts);
  await bridge.close();
  return report;
}

setTimeout(() => {
  console.error(`auth_client.mjs: no result within ${overallTimeout / 1000}s`);
  process.exit(1);
}, overallTimeout);

main().then(
  (report) => process.stdout.write(JSON.stringify(report, null, 2) + '\n', () => process.exit(0)),
  (err) => {
    console.error('auth_client.mjs:', err?.stack ?? err);
    process.exit(1);
  },
);
