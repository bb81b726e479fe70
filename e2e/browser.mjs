#!/usr/bin/env node
// browser.mjs is a scripted browser for api2mcp's built-in authorization
// server: from an authorization URL it follows redirects by hand, with a
// cookie jar, through /authorize, the login provider and /callback, reads
// the consent form, approves it (POST /consent) and returns the redirect to
// the client, which carries the code.
//
// As a module, login(url) returns that redirect, for an OAuth client
// provider's redirectToAuthorization. As a program it is what BROWSER names
// for mcp-remote (xdg-open runs `$BROWSER URL` when no desktop is found): it
// logs in, then opens the redirect, which lands on mcp-remote's callback
// server. It writes what it does to E2E_BROWSER_LOG when set.
//
//   node browser.mjs URL
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const maxSteps = 10;
const stepTimeout = 15_000;

function note(msg) {
  if (process.env.E2E_BROWSER_LOG) appendFileSync(process.env.E2E_BROWSER_LOG, msg + '\n');
}

// A cookie jar keyed by host name, as browsers scope cookies (not by port).
class Jar {
  constructor() { this.hosts = new Map(); }
  header(url) {
    const c = this.hosts.get(url.hostname);
    return c ? [...c].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }
  store(url, res) {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const gone = value === '' || attrs.some((a) => /^\s*max-age=(-|0)/i.test(a));
      if (!this.hosts.has(url.hostname)) this.hosts.set(url.hostname, new Map());
      if (gone) this.hosts.get(url.hostname).delete(name);
      else this.hosts.get(url.hostname).set(name, value);
    }
  }
}

async function step(jar, url, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  const res = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(stepTimeout) });
  jar.store(url, res);
  note(`${init.method ?? 'GET'} ${url.origin}${url.pathname} -> ${res.status}`);
  return res;
}

// consentForm reads the consent page's form: its action and the consent id.
function consentForm(html) {
  const action = html.match(/<form[^>]*\baction="([^"]*)"/)?.[1];
  const id = html.match(/<input[^>]*\bname="consent"[^>]*\bvalue="([^"]*)"/)?.[1];
  if (!action || !id || !/name="action" value="approve"/.test(html)) {
    throw new Error('no consent form on the page: ' + html.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').slice(0, 300));
  }
  return { action: action.replaceAll('&amp;', '&'), id: id.replaceAll('&amp;', '&') };
}

// login runs the authorization at url and returns the URL the server sends
// the browser back to: the client's redirect URI with code (or error),
// state and iss. The redirect itself is not opened.
export async function login(authorizationUrl, { action = 'approve' } = {}) {
  const start = new URL(authorizationUrl);
  const redirectUri = start.searchParams.get('redirect_uri');
  if (!redirectUri) throw new Error('the authorization URL has no redirect_uri');
  const jar = new Jar();
  let url = start;
  let init = {};
  for (let i = 0; i < maxSteps; i++) {
    const res = await step(jar, url, init);
    init = {};
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get('location'), url);
      await res.body?.cancel();
      if (sameEndpoint(next, new URL(redirectUri))) {
        return next.href;
      }
      url = next;
      continue;
    }
    const body = await res.text();
    if (res.status !== 200) {
      throw new Error(`${url.origin}${url.pathname} answered HTTP ${res.status}: ${body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
    }
    const form = consentForm(body);
    url = new URL(form.action, url);
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ consent: form.id, action }).toString(),
    };
  }
  throw new Error(`no redirect to the client within ${maxSteps} steps`);
}

// sameEndpoint reports whether a goes to b's origin and path (the server
// adds code, state and iss to the query).
function sameEndpoint(a, b) {
  return a.origin === b.origin && a.pathname === b.pathname;
}

// As BROWSER: log in, then open the redirect (mcp-remote's callback server).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const back = await login(process.argv[2]);
    const res = await fetch(back, { signal: AbortSignal.timeout(stepTimeout) });
    note(`GET ${new URL(back).origin}${new URL(back).pathname} -> ${res.status}`);
    note('done'); // the last line: the program exits next
    process.exit(res.ok ? 0 : 1);
  } catch (err) {
    note(`browser.mjs: ${err?.stack ?? err}`);
    note('done');
    process.exit(1);
  }
}
