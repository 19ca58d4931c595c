/**
 * Reads the `exp` claim of a token that is a JWT, so the broker can renew it in time and tell kubectl when it
 * expires. Nothing is verified: the API server does that. Undefined for opaque tokens and JWTs without exp.
 */
export function jwtExpiry(token: string): Date | undefined {
  const exp = jwtClaims(token)?.exp;
  if (typeof exp !== "number" || !Number.isFinite(exp) || exp <= 0 || exp > 253402300799) {
    return undefined;
  }
  return new Date(exp * 1000);
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
  if (!isObject(header) || typeof header.alg !== "string" || !isObject(claims)) return undefined;
  return claims;
}

function decodeSegment(segment: string): unknown {
  if (!/^[A-Za-z0-9_-]+$/.test(segment)) return undefined;
  try {
    const bytes = Uint8Array.fromBase64(segment, { alphabet: "base64url" });
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
