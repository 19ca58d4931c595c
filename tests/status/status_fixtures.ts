/** Kubeconfigs with broker users for the status tests: real files in a temp folder, written as kubectl writes them. */
import { HOST_OS, joinPath } from "../../lib/shared/platform.ts";
import { generateKey, issueCert, makeCa, makeJwt } from "../helpers.ts";

/** One user entry: an exec block running `command` (the broker by default) with `args`, or any other fields. */
export interface UserFixture {
  name: string;
  args?: string[];
  command?: string;
  apiVersion?: string;
  /** Extra YAML lines under `user:` (indented by 4), e.g. a static token next to exec. */
  extra?: string;
  /** The whole `user:` mapping instead of an exec block, as flow YAML. */
  raw?: string;
  /** exec.env entries. */
  env?: Record<string, string>;
}

/** Writes a kubeconfig with these users, contexts (name -> user) and current context; returns its path. */
export function writeKubeconfig(
  path: string,
  options: { users: UserFixture[]; contexts?: Record<string, string>; current?: string },
): string {
  const contexts = Object.entries(options.contexts ?? {});
  const lines = [
    "apiVersion: v1",
    "kind: Config",
    ...(options.current ? [`current-context: ${options.current}`] : []),
    "clusters:",
    "- name: dev",
    '  cluster: {server: "https://127.0.0.1:6443"}',
    ...(contexts.length === 0 ? ["contexts: []"] : [
      "contexts:",
      ...contexts.flatMap(([name, user]) => [
        `- name: ${name}`,
        `  context: {cluster: dev, user: ${user}}`,
      ]),
    ]),
    "users:",
  ];
  for (const user of options.users) {
    lines.push(`- name: ${user.name}`);
    if (user.raw !== undefined) {
      lines.push(`  user: ${user.raw}`);
      continue;
    }
    lines.push("  user:");
    if (user.extra) lines.push(user.extra);
    lines.push(
      "    exec:",
      `      apiVersion: ${user.apiVersion ?? "client.authentication.k8s.io/v1"}`,
      "      interactiveMode: IfAvailable",
      `      command: ${JSON.stringify(user.command ?? "kubectl-credentials_broker")}`,
      "      args:",
      ...(user.args ?? []).map((arg) => `      - ${JSON.stringify(arg)}`),
      ...(user.env
        ? [
          "      env:",
          ...Object.entries(user.env).flatMap(([name, value]) => [
            `      - name: ${name}`,
            `        value: ${JSON.stringify(value)}`,
          ]),
        ]
        : []),
    );
  }
  Deno.writeTextFileSync(path, lines.join("\n") + "\n", { mode: 0o600 });
  return path;
}

/** The broker's flags for a certificate and key (and a token), as `kubeconfig set` stores them. */
export function credentialArgs(
  files: { cert?: string; key?: string; token?: string },
): string[] {
  return [
    ...(files.cert ? [`--client-certificate-path=${files.cert}`] : []),
    ...(files.key ? [`--client-key-path=${files.key}`] : []),
    ...(files.token ? [`--token-path=${files.token}`] : []),
  ];
}

/** A path in `dir`, by the platform's rules. */
export const inDir = (dir: string, name: string) => joinPath(dir, name, HOST_OS);

/** A Deno script run by this Deno as a before-exec command: the portable stand-in for a renewal script. */
export function denoCommand(script: string): string {
  return `"${Deno.execPath()}" run --allow-all "${script}"`;
}

/** Whole seconds: certificates and JWTs carry no fractions, and status prints RFC 3339 without them. */
export function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/**
 * Empty stand-ins for executables kubectl would run, in `dir`/bin (`.exe` on Windows, executable elsewhere):
 * status only looks them up, never runs them. Returns the folder.
 */
export function standInExecutables(dir: string, names: string[]): string {
  const bin = joinPath(dir, "bin", HOST_OS);
  Deno.mkdirSync(bin, { recursive: true });
  for (const name of names) {
    const path = joinPath(bin, name + (HOST_OS === "windows" ? ".exe" : ""), HOST_OS);
    Deno.writeTextFileSync(path, "");
    if (HOST_OS !== "windows") Deno.chmodSync(path, 0o755);
  }
  return bin;
}

/**
 * A kubeconfig of `count` broker users in `dir`/config, contexts named after them: each with its own copy of one
 * EC key and certificate (CN=alice, O=dev; status reads every file whatever it holds, and one key is made once), a
 * JWT with an hour left, a renewal command and renew-ahead.
 */
export async function manyUsers(dir: string, count: number): Promise<string> {
  const ca = await makeCa(dir);
  const key = await generateKey(dir, "client.key", "ec");
  const cert = await issueCert({
    dir,
    ca,
    keyPath: key,
    out: "client.crt",
    notAfter: new Date(Date.now() + 2 * 3600_000),
  });
  const users: UserFixture[] = [];
  for (let i = 0; i < count; i++) {
    const userDir = inDir(dir, `user${i}`);
    Deno.mkdirSync(userDir);
    const files = {
      cert: inDir(userDir, "client.crt"),
      key: inDir(userDir, "client.key"),
      token: inDir(userDir, "token"),
    };
    Deno.copyFileSync(cert, files.cert);
    Deno.copyFileSync(key, files.key);
    if (HOST_OS !== "windows") Deno.chmodSync(files.key, 0o600);
    Deno.writeTextFileSync(files.token, makeJwt({ exp: Math.floor(Date.now() / 1000) + 3600 }), {
      mode: 0o600,
    });
    users.push({
      name: `user${i}`,
      args: [
        ...credentialArgs(files),
        `--before-exec-command=renew --user ${i}`,
        "--before-exec-policy=when-invalid",
        "--renew-ahead=30%",
        `--cache-dir=${inDir(dir, "cache")}`,
      ],
    });
  }
  return writeKubeconfig(inDir(dir, "config"), {
    contexts: Object.fromEntries(users.map((u) => [u.name, u.name])),
    users,
  });
}
