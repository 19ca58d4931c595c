/**
 * The test API server behind nginx: plain HTTP on loopback, answering what kubectl and the client libraries need
 * (/version, discovery, namespaces, SelfSubjectReview) as the identity nginx verified, and recording each request.
 */

export interface ApiServerOptions {
  /** When set, every request must carry `Authorization: Bearer <token>`, or it gets 401. */
  token?: string;
  /** The gitVersion /version reports. */
  gitVersion?: string;
}

/** One request as the API server saw it, with the identity nginx verified. */
export interface SeenRequest {
  at: Date;
  method: string;
  path: string;
  status: number;
  subject: string;
  serial: string;
  /** Whether a bearer token came along, and whether it was the expected one. */
  token: "none" | "valid" | "wrong";
}

export interface ApiServer extends AsyncDisposable {
  port: number;
  requests: SeenRequest[];
}

/** What the test API server reports as its version by default: a stand-in's, unrelated to any kubectl's. */
export const STAND_IN_GIT_VERSION = "v1.32.0";

/** The /version answer for `gitVersion`. */
export const versionInfo = (gitVersion: string) => {
  const [, major = "1", minor = "32"] = /^v(\d+)\.(\d+)/.exec(gitVersion) ?? [];
  return {
    major,
    minor,
    gitVersion,
    gitCommit: "0000000000000000000000000000000000000000",
    gitTreeState: "clean",
    buildDate: "2026-01-01T00:00:00Z",
    goVersion: "go1.23.0",
    compiler: "gc",
    platform: "linux/amd64",
  };
};

const AUTHENTICATION_VERSIONS = ["v1", "v1beta1", "v1alpha1"];

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function statusResponse(code: number, reason: string, message: string): Response {
  return json({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
  }, code);
}

/** Splits nginx's RFC 2253 subject ("CN=alice,O=developers") into attributes. */
export function parseSubject(dn: string): { commonName?: string; organizations: string[] } {
  const organizations: string[] = [];
  let commonName: string | undefined;
  for (const part of dn.split(/(?<!\\),/)) {
    const [key, ...rest] = part.split("=");
    const value = rest.join("=").replace(/\\(.)/g, "$1");
    if (key === "CN") commonName = value;
    if (key === "O") organizations.push(value);
  }
  return { commonName, organizations };
}

/**
 * Starts the test API server on a loopback port with plain HTTP (nginx in front terminates mTLS and passes the
 * verified subject). It answers what kubectl needs: /version, /api and /apis discovery, namespaces (as a Table
 * when asked), and SelfSubjectReview in authentication.k8s.io v1, v1beta1 and v1alpha1 for `kubectl auth whoami`.
 */
export function startApiServer(options: ApiServerOptions = {}): ApiServer {
  const requests: SeenRequest[] = [];
  const gitVersion = options.gitVersion ?? STAND_IN_GIT_VERSION;
  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const seen: SeenRequest = {
      at: new Date(),
      method: request.method,
      path: url.pathname,
      status: 0,
      subject: request.headers.get("x-client-subject") ?? "",
      serial: request.headers.get("x-client-serial") ?? "",
      token: "none",
    };
    requests.push(seen);
    const response = await answer(request, url, seen);
    seen.status = response.status;
    return response;
  };

  const answer = async (request: Request, url: URL, seen: SeenRequest): Promise<Response> => {
    const body = request.body ? await request.text() : "";
    if (request.headers.get("x-client-verify") !== "SUCCESS") {
      return statusResponse(401, "Unauthorized", "Unauthorized: no verified client certificate");
    }
    const authorization = request.headers.get("authorization");
    if (authorization) {
      seen.token = authorization === `Bearer ${options.token}` ? "valid" : "wrong";
    }
    if (options.token !== undefined && seen.token !== "valid") {
      return statusResponse(401, "Unauthorized", "Unauthorized");
    }
    const path = url.pathname.replace(/\/+$/, "");
    if (request.method === "GET") {
      switch (path) {
        case "/version":
          return json(versionInfo(gitVersion));
        case "/api":
          return json({
            kind: "APIVersions",
            versions: ["v1"],
            serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: url.host }],
          });
        case "/apis":
          return json({
            kind: "APIGroupList",
            apiVersion: "v1",
            groups: [{
              name: "authentication.k8s.io",
              versions: AUTHENTICATION_VERSIONS.map((version) => ({
                groupVersion: `authentication.k8s.io/${version}`,
                version,
              })),
              preferredVersion: { groupVersion: "authentication.k8s.io/v1", version: "v1" },
            }],
          });
        case "/api/v1":
          return json({
            kind: "APIResourceList",
            groupVersion: "v1",
            resources: [{
              name: "namespaces",
              singularName: "namespace",
              namespaced: false,
              kind: "Namespace",
              verbs: ["get", "list"],
              shortNames: ["ns"],
            }],
          });
        case "/api/v1/namespaces":
          return namespaces(request.headers.get("accept") ?? "");
      }
      const group = /^\/apis\/authentication\.k8s\.io\/(v1|v1beta1|v1alpha1)$/.exec(path);
      if (group) {
        return json({
          kind: "APIResourceList",
          apiVersion: "v1",
          groupVersion: `authentication.k8s.io/${group[1]}`,
          resources: [{
            name: "selfsubjectreviews",
            singularName: "selfsubjectreview",
            namespaced: false,
            kind: "SelfSubjectReview",
            verbs: ["create"],
          }],
        });
      }
    }
    const review = /^\/apis\/authentication\.k8s\.io\/(v1|v1beta1|v1alpha1)\/selfsubjectreviews$/
      .exec(
        path,
      );
    if (review && request.method === "POST") {
      let parsed: { apiVersion?: string } = {};
      try {
        parsed = JSON.parse(body);
      } catch { /* answer anyway */ }
      const subject = parseSubject(seen.subject);
      const extra: Record<string, string[]> = { "authenticated-by": ["x509"] };
      if (seen.token === "valid") extra["authenticated-by"]!.push("bearer-token");
      return json({
        kind: "SelfSubjectReview",
        apiVersion: parsed.apiVersion ?? `authentication.k8s.io/${review[1]}`,
        metadata: { creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z") },
        status: {
          userInfo: {
            username: subject.commonName ?? "",
            groups: [...subject.organizations, "system:authenticated"],
            extra,
          },
        },
      }, 201);
    }
    return statusResponse(
      404,
      "NotFound",
      `the server could not find the requested resource (${path})`,
    );
  };

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, handler);
  return {
    port: server.addr.port,
    requests,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

const NAMESPACES = ["default", "kube-system", "credentials-broker"];

function namespaces(accept: string): Response {
  const created = "2026-01-01T00:00:00Z";
  if (accept.includes("as=Table")) {
    return json({
      kind: "Table",
      apiVersion: "meta.k8s.io/v1",
      metadata: { resourceVersion: "1" },
      columnDefinitions: [
        { name: "Name", type: "string", format: "name", description: "", priority: 0 },
        { name: "Status", type: "string", format: "", description: "", priority: 0 },
      ],
      rows: NAMESPACES.map((name) => ({
        cells: [name, "Active"],
        object: {
          kind: "PartialObjectMetadata",
          apiVersion: "meta.k8s.io/v1",
          metadata: { name, creationTimestamp: created },
        },
      })),
    });
  }
  return json({
    kind: "NamespaceList",
    apiVersion: "v1",
    metadata: { resourceVersion: "1" },
    items: NAMESPACES.map((name) => ({
      metadata: { name, creationTimestamp: created },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    })),
  });
}
