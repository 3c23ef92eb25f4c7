// A relying party nobody at Plaza wrote (openid-client, OpenID-certified)
// signs in at Plaza's provider: discovery, authorization code with PKCE,
// ID token validation (signature, issuer, audience, nonce), userinfo and a
// refresh. The browser's part (the sign-in form) is done with fetch.
//
//   node relying-party.mjs ISSUER CLIENT_ID REDIRECT_URI EMAIL PASSWORD
//
// Prints one JSON object with what the client saw.
import * as client from 'openid-client';

const [issuer, clientId, redirectUri, email, password] = process.argv.slice(2);

const config = await client.discovery(
  new URL(issuer),
  clientId,
  undefined,
  client.None(),
  { execute: [client.allowInsecureRequests] },
);

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authorize = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: 'openid email',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});

// The browser: the sign-in page, then its form.
const page = await fetch(authorize, { redirect: 'manual' });
if (page.status !== 200) throw new Error(`sign-in page answered ${page.status}`);
const html = await page.text();
const unescape = (s) =>
  s.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
const form = new URLSearchParams();
for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
  form.set(unescape(m[1]), unescape(m[2]));
}
form.set('email', email);
form.set('password', password);
const posted = await fetch(new URL('login', authorize), { method: 'POST', body: form, redirect: 'manual' });
const location = posted.headers.get('location');
if (posted.status !== 303 || !location) throw new Error(`sign-in answered ${posted.status}`);

const tokens = await client.authorizationCodeGrant(config, new URL(location), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);

console.log(JSON.stringify({
  id_token_claims: claims,
  userinfo,
  refreshed: {
    rotated: refreshed.refresh_token !== tokens.refresh_token,
    sub: refreshed.claims()?.sub,
  },
  access_token: refreshed.access_token,
}));
