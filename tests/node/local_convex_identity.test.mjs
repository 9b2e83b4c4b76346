// identityFromBearer: how the local endpoint turns an (unverified) Bearer JWT into the
// UserIdentity its functions see, as the real backend builds it from the claims.
import { test } from "node:test";
import assert from "node:assert/strict";
import { identityFromBearer } from "../../migrator/node/local_convex_identity.mjs";

const jwt = (claims) => `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.`;

test("claims map to UserIdentity attributes; tokenIdentifier is issuer|subject", () => {
  const id = identityFromBearer(jwt({ iss: "https://auth.example", sub: "u1", email: "a@b.c", given_name: "Ann",
                                      email_verified: true, custom: 7, exp: 1, iat: 1, aud: "x" }));
  assert.deepEqual(id, { subject: "u1", issuer: "https://auth.example", email: "a@b.c", givenName: "Ann",
                         emailVerified: true, custom: 7, tokenIdentifier: "https://auth.example|u1" });
});

test("a tokenIdentifier claim cannot choose who the caller is", () => {
  const id = identityFromBearer(jwt({ iss: "https://auth.example", sub: "mallory", tokenIdentifier: "https://auth.example|victim" }));
  assert.equal(id.tokenIdentifier, "https://auth.example|mallory");
});

test("no issuer: convex-test's default issuer", () => {
  assert.equal(identityFromBearer(jwt({ sub: "u2" })).tokenIdentifier, "https://convex.test|u2");
});

test("unreadable tokens and tokens without a subject are refused", () => {
  for (const token of ["", "abc", "a.b.c", jwt({}), jwt({ sub: "" }), jwt({ sub: 5 }), `x.${Buffer.from("[1]").toString("base64url")}.`,
                       `x.${Buffer.from("null").toString("base64url")}.`]) {
    assert.equal(identityFromBearer(token), null, token);
  }
});
