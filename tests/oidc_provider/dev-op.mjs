// A local OpenID Connect provider behaving like FranceConnect v2, for Carreau's test suite ONLY.
// Started by the `oidc_provider` fixture (tests/accounts/conftest.py) on 127.0.0.1; never deploy it:
// it logs anyone in without a password and lets the tests choose who through POST /__test/account.
//
// Environment: OP_PORT, OP_CLIENT_ID, OP_CLIENT_SECRET, OP_REDIRECT_URIS and
// OP_POST_LOGOUT_REDIRECT_URIS (both comma-separated).
import { randomBytes } from "node:crypto";

import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";

const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  return process.env[name];
};
const list = (name) => env(name).split(",").map((value) => value.trim()).filter(Boolean);
const issuer = `http://127.0.0.1:${env("OP_PORT")}`;

// Identité pivot of the default person (FranceConnect's own test persona uses the same shape).
const DEFAULT_ACCOUNT = {
  sub: "angela", given_name: "Angela Claire Louise", family_name: "DUBOIS", birthdate: "1962-08-24",
  gender: "female", birthplace: "75107", birthcountry: "99100",
  email: "angela@example.fr", email_verified: true,
};
// `current` logs in at the next interactions; `known` keeps every account by sub, so that tokens
// issued before a change of account still resolve to their own claims.
let current = { claims: DEFAULT_ACCOUNT, acr: undefined, error: undefined };
const known = new Map([[DEFAULT_ACCOUNT.sub, DEFAULT_ACCOUNT]]);

// Signing keys are new at every start, like a key rotation: RPs must read /jwks.
const signingKey = async (alg, kid, options) => {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...options });
  return { ...(await exportJWK(privateKey)), kid, alg, use: "sig" };
};

const pivot = ["given_name", "family_name", "birthdate", "gender", "birthplace", "birthcountry"];
const provider = new Provider(issuer, {
  clients: [{
    client_id: env("OP_CLIENT_ID"),
    client_secret: env("OP_CLIENT_SECRET"),
    redirect_uris: list("OP_REDIRECT_URIS"),
    post_logout_redirect_uris: list("OP_POST_LOGOUT_REDIRECT_URIS"),
    token_endpoint_auth_method: "client_secret_post",
    id_token_signed_response_alg: "ES256",
    userinfo_signed_response_alg: "ES256", // with jwtUserinfo: /userinfo answers application/jwt
  }],
  jwks: { keys: [await signingKey("ES256", "es256"), await signingKey("RS256", "rs256", { modulusLength: 2048 })] },
  // FranceConnect's paths under the issuer (oidc-provider's own are /auth and /me), and only what
  // FranceConnect offers: the code flow, client_secret_post, no refresh token, no PAR.
  routes: { authorization: "/authorize", userinfo: "/userinfo" },
  responseTypes: ["code"],
  clientAuthMethods: ["client_secret_post"],
  scopes: ["openid"],
  acrValues: ["eidas1", "eidas2", "eidas3"],
  // FranceConnect has one scope per claim, plus aliases (profile, birth, identite_pivot).
  claims: {
    openid: ["sub"],
    ...Object.fromEntries([...pivot, "preferred_username"].map((claim) => [claim, [claim]])),
    email: ["email", "email_verified"],
    profile: [...pivot, "preferred_username"],
    birth: ["birthdate", "birthplace", "birthcountry"],
    identite_pivot: pivot,
  },
  features: {
    devInteractions: { enabled: false }, // replaced by the auto-login middleware below
    pushedAuthorizationRequests: { enabled: false },
    jwtUserinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true, logoutSource },
  },
  cookies: { keys: [randomBytes(32).toString("hex")] },
  // Short lifetimes, as ProConnect documents (30 s code, 60 s access token); in seconds.
  ttl: { AuthorizationCode: 30, AccessToken: 60, IdToken: 3600, Interaction: 600, Grant: 3600, Session: 3600 },
  async findAccount(ctx, sub) {
    const claims = known.get(sub);
    return claims && { accountId: sub, claims: () => ({ ...claims, sub }) };
  },
  // Errors as JSON rather than an HTML page: easier to read in a failing test.
  async renderError(ctx, out) {
    ctx.type = "json";
    ctx.body = out;
  },
});

// FranceConnect logs out without a confirmation page: end the session and go straight back to the
// post_logout_redirect_uri with the RP's state. (Only called when the browser has an OP session;
// without one oidc-provider answers an auto-submitting HTML form instead.)
async function logoutSource(ctx) {
  const { session } = ctx.oidc;
  const { postLogoutRedirectUri, state } = session.state;
  await session.destroy();
  ctx.cookies.set(provider.cookieName("session"), null);
  const target = new URL(postLogoutRedirectUri || `${issuer}/session/end/success`);
  if (postLogoutRedirectUri && state) target.searchParams.set("state", state);
  ctx.status = 303;
  ctx.redirect(target.href);
}

async function readJson(req) {
  let text = "";
  for await (const chunk of req) text += chunk;
  return text ? JSON.parse(text) : {};
}

provider.use(async (ctx, next) => {
  // Test control: the account (and its forced acr or error) used at the NEXT logins. Its claims are
  // merged over the default account; a null value removes a claim (e.g. birthplace when born abroad).
  if (ctx.path === "/__test/account" && ctx.method === "POST") {
    const { acr, error, ...changes } = await readJson(ctx.req);
    const claims = Object.fromEntries(
      Object.entries({ ...DEFAULT_ACCOUNT, ...changes }).filter(([, value]) => value !== null),
    );
    known.set(claims.sub, claims);
    current = { claims, acr: acr ?? undefined, error: error ?? undefined };
    ctx.body = { account: claims, acr: current.acr ?? null, error: current.error ?? null };
    return;
  }

  // FranceConnect refuses an authorization request without state or with a nonce under 22 chars.
  if (ctx.path === "/authorize" && ctx.method === "GET") {
    const { state, nonce } = ctx.query;
    const problem = !state ? "state is required" : !nonce || nonce.length < 22 ? "nonce must have 22+ characters" : null;
    if (problem) {
      ctx.status = 400;
      ctx.body = { error: "invalid_request", error_description: problem };
      return;
    }
  }

  // Auto-login, no HTML: each interaction (login, then consent) is answered at once.
  const interaction = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!interaction || ctx.method !== "GET") return next();
  const { prompt, params, session, grantId } = await provider.interactionDetails(ctx.req, ctx.res);
  let result;
  if (current.error) {
    result = { error: current.error, error_description: "refused by the test account" };
  } else if (prompt.name === "login") {
    const requested = params.acr_values?.split(" ")[0];
    result = { login: { accountId: current.claims.sub, acr: current.acr || requested || "eidas1" } };
  } else if (prompt.name === "consent") {
    // Grant whatever the client asked for, as the user would by clicking "Continuer".
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(" "));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    result = { consent: { grantId: await grant.save() } };
  } else {
    throw new Error(`unexpected prompt ${prompt.name}`);
  }
  ctx.status = 303;
  ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true }));
});

// The fixture holds our stdin: when pytest dies, even with SIGKILL, stdin closes and we exit
// (so do not start it with </dev/null).
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();

provider.listen(Number(env("OP_PORT")), "127.0.0.1", () => console.log(`ready ${issuer}`));
