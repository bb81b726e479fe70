// login_provider.mjs runs the npm oauth2-mock-server as the OpenID Connect
// login provider of api2mcp's built-in authorization server (provider: oidc)
// for as_test.go. Its /authorize answers at once with a code (no login page),
// its token endpoint checks PKCE and puts the authorize request's nonce in
// the ID token. Every token it issues is for one user, USER_SUB, with the
// verified address USER_EMAIL.
//
// It prints {"issuer": URL} as one JSON line on stdout, then one line
// {"grant_type", "access_token"} for each token response (the provider
// access tokens the upstream must receive), and serves until stdin closes.
// With TOKEN_TTL (seconds), its access tokens say they expire that soon.
//
//   USER_SUB=… USER_EMAIL=… [TOKEN_TTL=1] node login_provider.mjs
import { OAuth2Server } from 'oauth2-mock-server';

const sub = process.env.USER_SUB;
const email = process.env.USER_EMAIL;
if (!sub || !email) throw new Error('usage: USER_SUB=… USER_EMAIL=… node login_provider.mjs');

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

// The user of every token (access and ID token alike).
server.service.on('beforeTokenSigning', (token) => {
  token.payload.sub = sub;
  token.payload.email = email;
  token.payload.email_verified = true;
  token.payload.name = 'E2E User';
});

server.service.on('beforeResponse', (response, req) => {
  if (response.statusCode === 200 && response.body.access_token) {
    if (process.env.TOKEN_TTL) response.body.expires_in = Number(process.env.TOKEN_TTL);
    const line = { grant_type: req.body?.grant_type, access_token: response.body.access_token };
    process.stdout.write(JSON.stringify(line) + '\n');
  }
});

await server.start(0, '127.0.0.1');
server.issuer.url = `http://127.0.0.1:${server.address().port}`;
process.stdout.write(JSON.stringify({ issuer: server.issuer.url }) + '\n');

process.stdin.resume();
process.stdin.on('end', async () => {
  await server.stop();
  process.exit(0);
});
