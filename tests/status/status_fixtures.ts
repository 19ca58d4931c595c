/** Kubeconfigs with broker users for the status tests: real files in a temp folder, written as kubectl writes them. */
import { HOST_OS, joinPath } from "../../lib/shared/platform.ts";

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
