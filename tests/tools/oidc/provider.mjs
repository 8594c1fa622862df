// The authorization server of the OAuth tests: panva's oidc-provider (a certified OpenID
// Provider) with resource indicators (RFC 8707) and JWT access tokens (RFC 9068), dynamic
// client registration for MCP clients, and its development login and consent pages (any
// login name is an account; the test drives them over HTTP).
//
//   node provider.mjs PORT RESOURCE KEYS_OUT
//
// PORT     where to listen (127.0.0.1); the issuer is http://127.0.0.1:PORT
// RESOURCE the MCP server's resource URL (its /mcp endpoint)
// KEYS_OUT where to write the signing key (a private JWK set), so that tests can also sign
//          tokens with chosen claims under this issuer's real key
//
// Accounts and clients name their tenant in the `tenant` claim: an account's tenant is its
// login name; the client-credentials clients below have fixed ones.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [port, resource, keysOut] = process.argv.slice(2);
if (!port || !resource || !keysOut) {
  console.error('usage: node provider.mjs PORT RESOURCE KEYS_OUT');
  process.exit(2);
}
const lib = path.join(process.env.OIDC_PROVIDER, 'lib', 'index.js');
const { default: Provider, errors } = await import(pathToFileURL(lib).href);

const issuer = `http://127.0.0.1:${port}`;
// ES256 signs the access tokens; RS256 (the ID token default of registered clients) the rest.
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const signing = { ...ec.export({ format: 'jwk' }), kid: 'es-1', alg: 'ES256', use: 'sig' };
const idTokens = { ...rsa.export({ format: 'jwk' }), kid: 'rs-1', alg: 'RS256', use: 'sig' };
const keys = { keys: [signing, idTokens] };
fs.writeFileSync(keysOut, JSON.stringify(keys), { mode: 0o600 });

const SCOPES = 'read write delete presign';
// client id -> [secret, scopes it may ask for, tenant]
const machines = {
  'ci-a': ['secret-a', SCOPES, 'a'],
  'ci-b': ['secret-b', SCOPES, 'b'],
  'ci-read': ['secret-read', 'read', 'a'],
  'ci-nobody': ['secret-nobody', SCOPES, 'nobody'],
};

const provider = new Provider(issuer, {
  clients: Object.entries(machines).map(([id, [secret, scope]]) => ({
    client_id: id,
    client_secret: secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope,
  })),
  jwks: keys,
  scopes: ['openid', 'offline_access', ...SCOPES.split(' ')],
  claims: { openid: ['sub'] },
  pkce: { required: () => true },
  features: {
    clientCredentials: { enabled: true },
    registration: { enabled: true },
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        // The MCP server, and one other service (to mint tokens for another audience).
        if (indicator !== resource && indicator !== 'https://other.example.eu/mcp') {
          throw new errors.InvalidTarget();
        }
        return {
          scope: SCOPES,
          audience: indicator,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  extraTokenClaims: async (_ctx, token) => ({
    tenant: token.accountId ?? machines[token.clientId]?.[2],
  }),
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  ttl: { AccessToken: 300, AuthorizationCode: 60, Grant: 600, Interaction: 600, Session: 600 },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
