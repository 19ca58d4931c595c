import config from "../../deno.json" with { type: "json" };

/** The one version number, kept in deno.json and shared by --version, the build and the krew manifest. */
export const VERSION: string = config.version;
