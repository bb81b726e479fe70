// mock_issuer.mjs runs the npm oauth2-mock-server as a real OpenID Connect
// issuer on 127.0.0.1 for e2e_test.go: it pins the issuer URL, signs access
// tokens for AUDIENCE, prints {"issuer", "tokens"} as one JSON line on
// stdout and serves until stdin closes.
//
//   AUDIENCE=http://127.0.0.1:PORT node mock_issuer.mjs
import { OAuth2Server } from 'oauth2-mock-server';

const audience = process.env.AUDIENCE;
if (!audience) throw new Error('usage: AUDIENCE=URL node mock_issuer.mjs');

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
await server.start(0, '127.0.0.1');
server.issuer.url = `http://127.0.0.1:${server.address().port}`;

async function token(sub, scope) {
  return server.issuer.buildToken({
    expiresIn: 600,
    scopesOrTransform: (header, payload) => {
      payload.aud = audience;
      payload.sub = sub;
      payload.scope = scope;
    },
  });
}

const out = {
  issuer: server.issuer.url,
  tokens: { reader: await token('ada', 'mcp pets:read') },
};
process.stdout.write(JSON.stringify(out) + '\n');

process.stdin.resume();
process.stdin.on('end', async () => {
  await server.stop();
  process.exit(0);
});
