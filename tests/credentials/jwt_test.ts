import assert from "node:assert/strict";
import { isJwt, jwtExpiry, jwtTimes } from "../../lib/credentials/jwt.ts";
import { jwtSegment as segment, makeJwt } from "../helpers.ts";

Deno.test("jwtExpiry() reads exp from a JWT without verifying it", () => {
  const exp = Math.floor(Date.now() / 1000) + 600;
  assert.equal(jwtExpiry(makeJwt({ sub: "alice", exp }))?.getTime(), exp * 1000);
  assert.ok(isJwt(makeJwt({ sub: "alice" })));
});

Deno.test("jwtExpiry() is undefined for opaque tokens and JWTs without a usable exp", async (t) => {
  const cases: [string, string][] = [
    ["opaque", "s.AbCdEf0123456789"],
    ["two parts", `${segment({ alg: "none" })}.${segment({ exp: 1 })}`],
    ["no exp", makeJwt({ sub: "x" })],
    ["exp as text", makeJwt({ exp: "tomorrow" })],
    ["negative exp", makeJwt({ exp: -5 })],
    ["header without alg", `${segment({ typ: "JWT" })}.${segment({ exp: 2e9 })}.sig`],
    ["claims not an object", `${segment({ alg: "none" })}.${segment([1, 2])}.sig`],
    ["not base64", "a.b!.c"],
    ["not JSON", "aGVsbG8.d29ybGQ.c2ln"],
    ["empty", ""],
  ];
  for (const [name, token] of cases) {
    await t.step(name, () => assert.equal(jwtExpiry(token), undefined));
  }
});

Deno.test("jwtTimes() reads exp, nbf and iat, each only when it is a usable date", () => {
  const now = Math.floor(Date.now() / 1000);
  assert.deepEqual(jwtTimes(makeJwt({ exp: now + 60, nbf: now, iat: now - 5 })), {
    expiry: new Date((now + 60) * 1000),
    notBefore: new Date(now * 1000),
    issuedAt: new Date((now - 5) * 1000),
  });
  assert.deepEqual(jwtTimes(makeJwt({ exp: now, nbf: "soon", iat: -1 })), {
    expiry: new Date(now * 1000),
    notBefore: undefined,
    issuedAt: undefined,
  });
  assert.deepEqual(jwtTimes("s.opaque"), {});
});
