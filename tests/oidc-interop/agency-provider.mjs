// An agency's own identity provider, written by nobody at Plaza
// (oidc-provider, OpenID-certified), for the federation test: it signs RS256
// JWT access tokens for the audience "plaza" carrying the agency's own claim
// names (`groups`, `county`), which Plaza maps through auth.issuers_file.
//
//   node agency-provider.mjs
//
// Prints "READY <port>" once it listens on 127.0.0.1.
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const provider = new Provider(issuer, {
  jwks: { keys: [{ ...key, kid: 'agency-rsa-1', alg: 'RS256', use: 'sig' }] },
  clients: [
    {
      client_id: 'dmv-clerk-desk',
      client_secret: 'a-secret-of-the-agency-test-client',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    },
  ],
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:plaza:api',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: 'plaza',
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: () => ({ groups: ['DMV Clerks', 'Staff Canteen'], county: 'PA/Dauphin' }),
});
server.on('request', provider.callback());
console.log(`READY ${port}`);
