/**
 * Narrowing the Deno permissions at run time. Deno grants permissions to the whole process, and the install grants
 * every kind the broker may need somewhere (BROKER_PERMISSIONS: read, write, run, env, sys=uid, net), while each
 * command needs fewer. So once a command has parsed its flags, the entry point revokes (through Io.narrow) the
 * kinds that command will never use. Only whole kinds can be revoked: a path or host under a global grant cannot.
 * A revoked kind becomes "prompt", which is why every broker runs with --no-prompt: otherwise Deno would ask at
 * the terminal, and a `y` would undo the narrowing.
 */

/** The kinds the install grants, in the order the debug line lists them; revoking others would change nothing. */
export const PERMISSION_KINDS = ["read", "write", "run", "env", "sys", "net"] as const;

/** One kind of Deno permission the broker is granted. */
export type PermissionKind = (typeof PERMISSION_KINDS)[number];

/**
 * What each use of the broker keeps once its flags are parsed; every other kind is revoked. A use names a command,
 * or a phase of one whose needs depend on its flags (the plugin) or on what it found (doctor).
 */
export const KEPT_PERMISSIONS = {
  // Read kubeconfigs and credential files, HOME and KUBECONFIG; sys for the owner of the lock folder.
  status: ["read", "env", "sys"],
  completion: ["read", "env", "sys"],
  // Edits a kubeconfig (write, the owner check needs sys); runs nothing, contacts nothing.
  kubeconfig: ["read", "write", "env", "sys"],
  // Writes nothing: the broker run it checks is another process, with permissions of its own. The network only
  // for the issuer's checks, then "doctor after issuer checks" gives it up.
  doctor: ["read", "run", "env", "sys", "net"],
  "doctor after issuer checks": ["read", "run", "env", "sys"],
  // Nothing renews: the plugin only reads the files and its environment.
  plugin: ["read", "env"],
  // Runs the command (and starts itself to renew ahead), writes under the lock folder, whose owner it checks.
  "plugin with before-exec command": ["read", "write", "run", "env", "sys"],
  // Contacts the issuer, writes the issued files, runs token helpers and starts itself to renew ahead.
  "plugin with issuer": ["read", "write", "run", "env", "sys", "net"],
  // Print text the broker carries (`help`, `help COMMAND`, --help, `version`): writing to stdout needs no kind.
  // env stays, as for every use: the debug switch is read when an error is reported, and by a second narrowing.
  help: ["env"],
  version: ["env"],
} as const satisfies Record<string, readonly PermissionKind[]>;

/** A row of KEPT_PERMISSIONS: what a command asks Io.narrow for. */
export type PermissionUse = keyof typeof KEPT_PERMISSIONS;

/** The kinds `use` gives up: every granted kind it does not keep. */
export function revokedKinds(use: PermissionUse): PermissionKind[] {
  const kept: readonly PermissionKind[] = KEPT_PERMISSIONS[use];
  return PERMISSION_KINDS.filter((kind) => !kept.includes(kind));
}

/** The plugin's use, from its parsed options: the network only with --issuer, running and writing only to renew. */
export function pluginUse(
  options: { readonly issuer?: unknown; readonly beforeExecCommand?: string },
): PermissionUse {
  if (options.issuer !== undefined) return "plugin with issuer";
  if (options.beforeExecCommand !== undefined) return "plugin with before-exec command";
  return "plugin";
}

/** Revokes in this process every kind `use` gives up (what processIo's narrow does). */
export function revokePermissions(use: PermissionUse): void {
  for (const name of revokedKinds(use)) Deno.permissions.revokeSync({ name });
}

/**
 * Each granted kind's state as Deno reports it, "read=granted write=prompt ...", for the debug switch: what the
 * process really holds, not what the table says. sys is asked for uid, the one part of it the broker is granted.
 */
export function describePermissions(): string {
  return PERMISSION_KINDS.map((name) => {
    const descriptor: Deno.PermissionDescriptor = name === "sys" ? { name, kind: "uid" } : { name };
    return `${name}=${Deno.permissions.querySync(descriptor).state}`;
  }).join(" ");
}
