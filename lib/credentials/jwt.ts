import { isRecord } from "../shared/values.ts";

/**
 * Reads the `exp` claim of a token that is a JWT, so the broker can renew it in time and tell kubectl when it
 * expires. Nothing is verified: the API server does that. Undefined for opaque tokens and JWTs without exp.
 */
export function jwtExpiry(token: string): Date | undefined {
  return jwtTimes(token).expiry;
}

/** The times a JWT carries (`exp`, `nbf`, `iat`), unverified; each is undefined when absent or not a valid date. */
export interface JwtTimes {
  expiry?: Date;
  notBefore?: Date;
  issuedAt?: Date;
}

/**
 * A JWT's validity window: the broker renews a token that is not valid yet (`nbf`) as it renews an expired one,
 * and bounds the refresh margin by the token's lifetime (`exp` - `iat`, or `exp` - `nbf`). Empty for opaque tokens.
 */
export function jwtTimes(token: string): JwtTimes {
  const claims = jwtClaims(token);
  if (!claims) return {};
  return {
    expiry: numericDate(claims.exp),
    notBefore: numericDate(claims.nbf),
    issuedAt: numericDate(claims.iat),
  };
}

/** RFC 7519 NumericDate: seconds since the epoch, up to the year 9999. */
function numericDate(value: unknown): Date | undefined {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0 || value > 253402300799) {
    return undefined;
  }
  return new Date(value * 1000);
}

/** Whether the token has the shape of a JWT: a JSON header with `alg` and a JSON claims object. */
export function isJwt(token: string): boolean {
  return jwtClaims(token) !== undefined;
}

function jwtClaims(token: string): Record<string, unknown> | undefined {
  const parts = token.split(".");
  if (parts.length !== 3) return undefined;
  const header = decodeSegment(parts[0]!);
  const claims = decodeSegment(parts[1]!);
  if (!isRecord(header) || typeof header.alg !== "string" || !isRecord(claims)) return undefined;
  return claims;
}

function decodeSegment(segment: string): unknown {
  if (!isBase64Url(segment)) return undefined;
  try {
    const bytes = Uint8Array.fromBase64(segment, { alphabet: "base64url" });
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}

/** `^[A-Za-z0-9_-]+$`, by a loop: a kubectl call runs no regular expression. */
function isBase64Url(text: string): boolean {
  if (text === "") return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const ok = (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) ||
      (code >= 0x30 && code <= 0x39) || code === 0x5f || code === 0x2d;
    if (!ok) return false;
  }
  return true;
}
