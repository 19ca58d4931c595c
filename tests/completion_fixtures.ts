/** What tests/completion_test.ts and its process sibling share: kubeconfig files to complete names from. */
import { join } from "node:path";

/** Two kubeconfig files in `dir`, as KUBECONFIG would merge them: a's entries win, b adds its own. */
export async function twoKubeconfigs(dir: string): Promise<{ a: string; b: string }> {
  const a = join(dir, "a.yaml");
  const b = join(dir, "b.yaml");
  await Deno.writeTextFile(
    a,
    "apiVersion: v1\nkind: Config\ncontexts:\n- name: dev\n  context: {user: alice}\n" +
      "- name: prod\n  context: {user: alice}\nusers:\n- name: alice\n  user: {}\n",
  );
  await Deno.writeTextFile(
    b,
    "apiVersion: v1\nkind: Config\ncontexts:\n- name: dev\n  context: {user: bob}\n" +
      "- name: staging\n  context: {user: bob}\nusers:\n- name: bob\n  user: {}\n" +
      '- name: "bad\\nname"\n  user: {}\n',
  );
  return { a, b };
}
