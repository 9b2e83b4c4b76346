// Who a `Authorization: Bearer <jwt>` request is, for the local endpoint (test use only).
//
// The real backend verifies the JWT against the deployment's auth providers and builds the
// UserIdentity from its claims: `sub` -> subject, `iss` -> issuer, `email` -> email, ...,
// and `tokenIdentifier` = `${iss}|${sub}`, never a claim. Here the token is decoded
// WITHOUT verification (any caller can be anyone), which is what lets tests call public
// functions as a given user over HTTP; the mapping of claims and the tokenIdentifier are
// as the real backend's. Such a token is what convex-test's `withIdentity` builds
// (`alg: none`), e.g. for `ConvexHttpClient.setAuth(token)`.

const ATTRIBUTE_BY_CLAIM = {
  sub: "subject", iss: "issuer", name: "name", given_name: "givenName", family_name: "familyName",
  nickname: "nickname", preferred_username: "preferredUsername", profile: "profileUrl", picture: "pictureUrl",
  email: "email", email_verified: "emailVerified", gender: "gender", birthdate: "birthday", zoneinfo: "timezone",
  locale: "language", phone_number: "phoneNumber", phone_number_verified: "phoneNumberVerified",
  address: "address", updated_at: "updatedAt",
};
const DEFAULT_ISSUER = "https://convex.test";   // convex-test's, for tokens without `iss`

// -> the UserIdentity for convex-test's withIdentity, or null when the token cannot be read
// or names no subject.
export function identityFromBearer(token) {
  let claims;
  try {
    claims = JSON.parse(Buffer.from(String(token).split(".")[1] ?? "", "base64url").toString("utf8"));
  } catch {
    return null;
  }
  if (claims === null || typeof claims !== "object" || Array.isArray(claims)) return null;
  if (typeof claims.sub !== "string" || claims.sub === "") return null;
  const identity = {};
  for (const [claim, value] of Object.entries(claims)) {
    if (claim === "tokenIdentifier" || claim === "exp" || claim === "iat" || claim === "nbf" || claim === "aud") continue;
    identity[ATTRIBUTE_BY_CLAIM[claim] ?? claim] = value;
  }
  identity.issuer = typeof claims.iss === "string" && claims.iss !== "" ? claims.iss : DEFAULT_ISSUER;
  identity.tokenIdentifier = `${identity.issuer}|${identity.subject}`;
  return identity;
}
