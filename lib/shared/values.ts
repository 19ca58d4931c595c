/**
 * Questions about parsed YAML or JSON values, asked by the plugin (a JWT's claims, an issuer's answer), the
 * kubeconfig editor, doctor and status alike: one answer for all of them.
 */

/**
 * A YAML or JSON value that is a mapping. Not a Date: kubeconfigs parse as YAML 1.1, where an unquoted
 * `2026-12-01` is a timestamp, and a timestamp is no mapping to read fields from.
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/** What a YAML or JSON value is, for "is a list, not a string" messages. */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (value instanceof Date) return "a timestamp";
  if (typeof value === "object") return "a mapping";
  return `a ${typeof value}`;
}
