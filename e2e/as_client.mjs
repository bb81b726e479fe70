// as_client.mjs logs in to an api2mcp running its built-in authorization
// server (auth mode authorization_server) as real clients do, and prints one
// JSON report on stdout. as_test.go runs it:
//
//   node as_client.mjs sdk URL [CLIENT_METADATA_URL]
//     The official TypeScript SDK client and its OAuth flow. Its provider's
//     redirectToAuthorization is the scripted browser (browser.mjs). The
//     first connect gets the 401, discovers the protected-resource and
//     authorization-server metadata, registers the client (RFC 7591; or,
//     given CLIENT_METADATA_URL, uses it as a client id metadata document
//     URL) and sends the browser to /authorize; finishAuth redeems the code.
//     Then it lists and calls tools. It revokes its access token (RFC 7009):
//     the next call gets a 401 and the SDK refreshes its tokens by itself.
//
//   BROWSER=…/browser.mjs node as_client.mjs remote URL
//     mcp-remote (stdio to Streamable HTTP), which opens BROWSER for the
//     login, driven by the SDK client over stdio: list and call.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { randomBytes } from 'node:crypto';
import { login } from './browser.mjs';

const requestTimeout = 30_000;
const overallTimeout = 80_000;
const opts = { timeout: requestTimeout };

// The redirect URI of the SDK client: nothing listens there; the scripted
// browser stops at the redirect and hands its code to finishAuth.
const redirectUrl = 'http://127.0.0.1:53682/e2e/callback';

// BrowserProvider is the SDK's OAuthClientProvider, kept in memory, with
// the scripted browser as its user agent. It records what it went through.
class BrowserProvider {
  constructor(clientMetadataUrl) {
    this.metadataUrl = clientMetadataUrl;
    this.client = undefined;
    this.tokenSet = undefined;
    this.verifier = '';
    this.discovery = undefined;
    this.expectedState = '';
    this.logins = [];
    this.registrations = 0;
    this.savedTokens = [];
  }
  get redirectUrl() { return redirectUrl; }
  get clientMetadata() {
    return {
      client_name: 'api2mcp e2e (TypeScript SDK)',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  get clientMetadataUrl() { return this.metadataUrl; }
  state() {
    this.expectedState = randomBytes(16).toString('hex');
    return this.expectedState;
  }
  clientInformation() { return this.client; }
  saveClientInformation(info) {
    this.client = info;
    if (info.client_id_issued_at !== undefined) this.registrations++;
  }
  tokens() { return this.tokenSet; }
  saveTokens(tokens) {
    this.tokenSet = tokens;
    this.savedTokens.push({ access_token: tokens.access_token, refresh_token: tokens.refresh_token, expires_in: tokens.expires_in, scope: tokens.scope });
  }
  async redirectToAuthorization(url) {
    const back = new URL(await login(url.href));
    const q = back.searchParams;
    this.logins.push({
      authorization: Object.fromEntries(url.searchParams),
      error: q.get('error') ?? undefined,
      state_ok: q.get('state') === this.expectedState,
      iss: q.get('iss'),
      has_code: q.has('code'),
    });
    this.code = q.get('code');
  }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
  saveDiscoveryState(state) { this.discovery = state; }
  discoveryState() { return this.discovery; }
  invalidateCredentials(scope) { this.invalidated = [...(this.invalidated ?? []), scope]; }
}

function describe(err) {
  return { name: err?.constructor?.name ?? 'Error', message: String(err?.message ?? err) };
}

function newClient() {
  return new Client({ name: 'api2mcp-e2e-as', version: '1.0.0' });
}

async function sdk(url, clientMetadataUrl) {
  const report = {};
  const provider = new BrowserProvider(clientMetadataUrl);

  // 1. No token yet: 401, discovery, registration, login, code.
  const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
  try {
    await newClient().connect(first, opts);
    report.first_connect = { connected: true };
  } catch (err) {
    report.first_connect = { error: describe(err) };
  }
  if (!provider.code) throw new Error('the login gave no code: ' + JSON.stringify(provider.logins));
  await first.finishAuth(provider.code);
  const as = provider.discovery?.authorizationServerMetadata;
  report.discovery = {
    resource_metadata: provider.discovery?.resourceMetadata,
    authorization_server: provider.discovery?.authorizationServerUrl,
    issuer: as?.issuer,
    registration_endpoint: as?.registration_endpoint,
    client_id_metadata_document_supported: as?.client_id_metadata_document_supported,
  };

  // 2. With the tokens: list and call.
  const client = newClient();
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }), opts);
  const { tools } = await client.listTools(undefined, opts);
  report.tools = tools.map((t) => t.name).sort();
  report.call = await client.callTool({ name: 'whoami', arguments: {} }, undefined, opts);

  // 3. Revoke the access token; the next call refreshes by itself.
  const revoked = await fetch(as.revocation_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: provider.tokenSet.access_token, token_type_hint: 'access_token', client_id: provider.client.client_id }),
  });
  report.revoke_status = revoked.status;
  report.after_refresh = await client.callTool({ name: 'whoami', arguments: {} }, undefined, opts);
  await client.close();

  report.client_id = provider.client?.client_id;
  report.registrations = provider.registrations;
  report.logins = provider.logins;
  report.tokens = provider.savedTokens;
  report.invalidated = provider.invalidated;
  return report;
}

async function remote(url) {
  if (!process.env.BROWSER) throw new Error('BROWSER must name browser.mjs');
  // No desktop: xdg-open falls back to $BROWSER.
  const env = { ...process.env };
  for (const k of ['DISPLAY', 'WAYLAND_DISPLAY', 'XDG_CURRENT_DESKTOP', 'DESKTOP_SESSION', 'KDE_FULL_SESSION',
    'GNOME_DESKTOP_SESSION_ID', 'MATE_DESKTOP_SESSION_ID', 'DBUS_SESSION_BUS_ADDRESS', 'WSL_DISTRO_NAME']) {
    delete env[k];
  }
  const bridge = newClient();
  await bridge.connect(new StdioClientTransport({
    command: process.execPath,
    args: ['node_modules/mcp-remote/dist/proxy.js', url, '--transport', 'http-only'],
    env,
    stderr: 'inherit',
  }), opts);
  const { tools } = await bridge.listTools(undefined, opts);
  const call = await bridge.callTool({ name: 'whoami', arguments: {} }, undefined, opts);
  await bridge.close();
  return { tools: tools.map((t) => t.name).sort(), call };
}

setTimeout(() => {
  console.error(`as_client.mjs: no result within ${overallTimeout / 1000}s`);
  process.exit(1);
}, overallTimeout).unref();

const [mode, url, metadataUrl] = process.argv.slice(2);
const run = mode === 'sdk' ? sdk(new URL(url), metadataUrl) : mode === 'remote' ? remote(url) : Promise.reject(new Error('usage: node as_client.mjs sdk|remote URL [CLIENT_METADATA_URL]'));
run.then(
  (report) => process.stdout.write(JSON.stringify(report, null, 2) + '\n', () => process.exit(0)),
  (err) => {
    console.error('as_client.mjs:', err?.stack ?? err);
    process.exit(1);
  },
);
