// A small Kubernetes API server for tests (the one mock the brief allows). It speaks the real
// REST + watch protocol over node:http (or https) : lists carry `metadata.resourceVersion`
// (core-group list items omit kind/apiVersion, as the real server does), `?watch=1`
// streams one JSON event per line (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR) from a
// resourceVersion, and a watch from a compacted resourceVersion gets 410 Gone. Test controls
// create/update/delete objects, compact history, drop watches mid-stream, send bookmarks and
// inject failures. Lists and watches honour `labelSelector` (k=v, k!=v, k, !k) and
// `fieldSelector` (metadata.name, metadata.namespace, spec.nodeName); PATCH takes a JSON merge
// patch (strategic merge is treated as one); `…/status` subresources replace or patch status.
//
// Two security modes:
//  - open (default): anyone may do anything; `start({ token })` only demands that one bearer
//    token, and `tokenReviews` answers TokenReviews from a fixed table (old tests).
//  - `start({ rbac: true })`: like a real cluster. Every request needs a bearer token: the
//    `adminToken` (group system:masters, allowed everything; kubeconfig() uses it) or a
//    service-account token minted by this server (`mintToken`, or the TokenRequest
//    subresource `POST …/serviceaccounts/SA/token`). A token is an ES256 JWT signed with a key
//    only this server holds, with Kubernetes' claims (iss, sub, aud, exp, nbf, iat, jti,
//    kubernetes.io.{namespace, serviceaccount, pod, node}); it authenticates only while
//    unexpired, while its ServiceAccount exists (same uid) and, for a pod-bound token, while
//    that pod exists with the same uid; API requests need one of `apiAudiences`. Requests are
//    authorized by the Roles/ClusterRoles/RoleBindings/ClusterRoleBindings stored in the
//    server (create them like any object, e.g. from a rendered chart): verbs get, list,
//    watch, create, update, patch, delete, deletecollection; resources with subresources
//    (`pods/status`, `*`), namespaces, resourceNames (list/watch only with a
//    `fieldSelector=metadata.name=`, create never). Anything not granted gets 403 with a
//    Kubernetes Status body (reason Forbidden) and is recorded in `denials`.
//
// TokenReview (authentication.k8s.io/v1, needs `create tokenreviews`) answers as the real
// one: `spec.audiences` (default `apiAudiences`) must intersect the token's `aud`, and
// `status.audiences` is the intersection; the user is `system:serviceaccount:NS:SA` with
// groups system:serviceaccounts, system:serviceaccounts:NS, system:authenticated, the
// ServiceAccount's uid, and for a pod-bound token the extras
// `authentication.kubernetes.io/pod-name`, `pod-uid`, `node-name`, `node-uid` (node from the
// pod's spec.nodeName when the token was minted) and `credential-id` (JTI=…).
//
//   const api = await FakeApiServer.start({ rbac: true });              // or { rbac: true, tls: true, host }
//   api.serveStandard();                                                 // STANDARD + RBAC + secrets/configmaps
//   api.create(pod);                                                     // a Pod with spec.nodeName + serviceAccountName
//   const token = api.mintToken({ namespace: 'shop', serviceAccount: 'web', audiences: ['ambit-ca'], pod: 'web-1' });
//   api.getObject('Pod', 'web-1', 'shop');                               // CA-side lookups go through GET /api/v1/…/pods/NAME
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeObject {
  apiVersion?: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
    [k: string]: unknown;
  };
  [field: string]: unknown;
}

export interface ServedResource {
  /** '' for the core group (served under /api/v1). */
  group: string;
  /** Every version this resource is served in; objects are converted by rewriting apiVersion. */
  versions: string[];
  plural: string;
  kind: string;
  namespaced: boolean;
  /** A custom resource: list items keep kind/apiVersion (built-in types' list items do not). */
  crd?: boolean;
}

/** Who a request or a token is (as in a TokenReview's status.user). */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export interface MintTokenOptions {
  namespace: string;
  serviceAccount: string;
  /** `aud` (default: the server's apiAudiences). */
  audiences?: string[];
  /** Lifetime (default 3600 s). Negative: an already expired token. */
  expirationSeconds?: number;
  /** Bind to this pod (must exist and run as serviceAccount); its spec.nodeName is recorded. */
  pod?: string;
  /** Bind to this node (a Node object need not exist). */
  node?: string;
}

/** One request RBAC refused (for assertions and failure messages). */
export interface Denial {
  user: string;
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  name?: string;
  path: string;
}

export interface StartOptions {
  /** Open mode: demand exactly this bearer token. */
  token?: string;
  /** Authenticate service-account tokens and enforce RBAC (see the top of the file). */
  rbac?: boolean;
  /** Serve HTTPS with a fresh self-signed certificate for `host` (see caPem). */
  tls?: boolean;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port (default: any free one). */
  port?: number;
  /** Allocate spec.clusterIP(s) of created Services from this /16 or /24 (e.g. 10.96.0.0/16). */
  serviceCidr?: string;
}

type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';
interface HistoryEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  resource: string;
  object: FakeObject;
}
interface Route {
  resource: ServedResource;
  version: string;
  namespace?: string;
  name?: string;
  subresource?: string;
}
interface Selectors {
  labels?: string;
  fields?: string;
}
interface OpenWatch {
  resource: ServedResource;
  version: string;
  namespace?: string;
  res: http.ServerResponse;
  bookmarks: boolean;
  selectors: Selectors;
}
interface Attributes {
  verb: Verb;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}
interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface Subject {
  kind?: string;
  name?: string;
  namespace?: string;
}
interface TokenClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  'kubernetes.io': {
    namespace: string;
    serviceaccount: { name: string; uid: string };
    pod?: { name: string; uid: string };
    node?: { name: string; uid?: string };
  };
}

const resourceId = (r: Pick<ServedResource, 'group' | 'plural'>): string => `${r.group}/${r.plural}`;
const objKey = (o: FakeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const clone = <T>(v: T): T => structuredClone(v);
const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');
const ISSUER = 'https://kubernetes.default.svc.cluster.local';

export class FakeApiServer {
  private readonly server: http.Server;
  private readonly resources = new Map<string, ServedResource>();
  private readonly stores = new Map<string, Map<string, FakeObject>>();
  private readonly history: HistoryEvent[] = [];
  private readonly watches = new Set<OpenWatch>();
  private readonly failures: Array<{ match: string; status: number; times: number }> = [];
  private readonly listeners = new Set<(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: FakeObject) => void>();
  private rv = 100;
  private compactedRv = 0;
  private uidSeq = 0;
  private nextServiceIp = 10;
  private readonly signingKey: KeyObject;
  private readonly verifyKey: KeyObject;
  private readonly keyId = randomBytes(8).toString('hex');
  /** How an expired resourceVersion is reported: HTTP 410 or a 200 stream with an ERROR event. */
  expiredAs: 'status' | 'event' = 'event';
  /** Every request path+query served, for assertions. */
  readonly requests: string[] = [];
  token: string | undefined;
  /**
   * TokenReview answers from a fixed table: token → the user it authenticates (checked before
   * minted tokens; open mode: others are not authenticated). `audiences`: the reviews it passes
   * (default: any; status.audiences echoes spec.audiences).
   */
  readonly tokenReviews = new Map<
    string,
    { username: string; extra?: Record<string, string[]>; audiences?: string[] }
  >();
  /** RBAC mode: the token of a cluster admin (system:masters). */
  readonly adminToken = randomBytes(24).toString('hex');
  /** Audiences the API itself accepts (and a TokenReview without spec.audiences checks). */
  apiAudiences: string[] = [ISSUER];
  /** RBAC mode: every refused request. */
  readonly denials: Denial[] = [];
  /** TLS mode: the PEM of the self-signed server certificate (give it to clients as their CA). */
  caPem: string | undefined;

  private constructor(
    private readonly opts: StartOptions,
    tls?: { key: string; cert: string },
  ) {
    this.server = tls
      ? https.createServer(tls, (req, res) => this.handle(req, res))
      : http.createServer((req, res) => this.handle(req, res));
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.signingKey = createPrivateKey(pair.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    this.verifyKey = createPublicKey(pair.publicKey.export({ format: 'pem', type: 'spki' }));
  }

  static async start(opts: StartOptions = {}): Promise<FakeApiServer> {
    const host = opts.host ?? '127.0.0.1';
    const tls = opts.tls ? selfSignedCertificate(host) : undefined;
    const s = new FakeApiServer(opts, tls);
    s.token = opts.token;
    s.caPem = tls?.cert;
    if (opts.rbac) for (const r of RBAC_RESOURCES) s.serve(r);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(opts.port ?? 0, host, () => resolve());
    });
    return s;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = isIP(a.address) === 6 ? `[${a.address}]` : a.address;
    return `${this.opts.tls ? 'https' : 'http'}://${host}:${a.port}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** A kubeconfig (YAML) pointing at this server (RBAC mode: as the cluster admin). */
  kubeconfig(): string {
    const bearer = this.opts.rbac ? this.adminToken : this.token;
    const user = bearer ? `    token: ${bearer}\n` : '    username: test\n    password: test\n';
    const cluster = this.caPem
      ? `    certificate-authority-data: ${Buffer.from(this.caPem).toString('base64')}`
      : '    insecure-skip-tls-verify: true';
    return [
      'apiVersion: v1',
      'kind: Config',
      'current-context: fake',
      'clusters:',
      '- name: fake',
      '  cluster:',
      `    server: ${this.url}`,
      cluster,
      'users:',
      '- name: fake',
      '  user:',
      user.trimEnd(),
      'contexts:',
      '- name: fake',
      '  context:',
      '    cluster: fake',
      '    user: fake',
      '',
    ].join('\n');
  }

  serve(r: ServedResource): void {
    this.resources.set(resourceId(r), r);
    if (!this.stores.has(resourceId(r))) this.stores.set(resourceId(r), new Map());
  }

  /** Serve STANDARD_RESOURCES, RBAC_RESOURCES and EXTRA_CORE_RESOURCES (ConfigMaps, Secrets, Deployments…). */
  serveStandard(): void {
    for (const r of [...STANDARD_RESOURCES, ...RBAC_RESOURCES, ...EXTRA_CORE_RESOURCES]) this.serve(r);
  }

  /** Stop serving a resource (as when its CRD is deleted): lists and watches get 404. */
  unserve(group: string, plural: string): void {
    this.resources.delete(resourceId({ group, plural }));
    for (const w of this.watches) if (resourceId(w.resource) === resourceId({ group, plural })) w.res.destroy();
  }

  /** Is this kind served (optionally in this API group)? */
  /** The REST path of `obj` (its collection, or with `named` the object itself), in its apiVersion. */
  pathOf(obj: Pick<FakeObject, 'apiVersion' | 'kind' | 'metadata'>, named = true): string {
    const [group, version] = obj.apiVersion?.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion ?? 'v1'];
    const r = this.resourceForKind(obj.kind, group);
    const base = r.group ? `/apis/${r.group}/${version}` : `/api/${version}`;
    const ns = r.namespaced ? `/namespaces/${encodeURIComponent(obj.metadata.namespace ?? 'default')}` : '';
    return `${base}${ns}/${r.plural}${named ? `/${encodeURIComponent(obj.metadata.name)}` : ''}`;
  }

  serves(kind: string, group?: string): boolean {
    return [...this.resources.values()].some((r) => r.kind === kind && (group === undefined || r.group === group));
  }

  get resourceVersion(): number {
    return this.rv;
  }
  get openWatches(): number {
    return this.watches.size;
  }

  create(obj: FakeObject): FakeObject {
    return this.write('ADDED', obj);
  }
  update(obj: FakeObject): FakeObject {
    return this.write('MODIFIED', obj);
  }
  delete(kind: string, name: string, namespace?: string, group?: string): void {
    const r = this.resourceForKind(kind, group);
    const store = this.stores.get(resourceId(r))!;
    const key = `${namespace ?? ''}/${name}`;
    const old = store.get(key);
    if (!old) throw new Error(`fake-apiserver: ${kind} ${key} not found`);
    store.delete(key);
    const gone = clone(old);
    gone.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, type: 'DELETED', resource: resourceId(r), object: gone });
  }

  /** The stored object (a copy), or undefined. */
  getObject(kind: string, name: string, namespace?: string, group?: string): FakeObject | undefined {
    const r = this.resourceForKind(kind, group);
    const o = this.stores.get(resourceId(r))!.get(`${namespace ?? ''}/${name}`);
    return o ? present(o, r, r.versions[0]!, true) : undefined;
  }

  /** Every stored object of a kind (copies), optionally in one namespace. */
  listObjects(kind: string, namespace?: string, group?: string): FakeObject[] {
    const r = this.resourceForKind(kind, group);
    return this.objects(r, namespace).map((o) => present(o, r, r.versions[0]!, true));
  }

  /** In-process notification of every write (the simulated kubelet and controllers use it). */
  onChange(listener: (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: FakeObject) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Advance the resourceVersion with no event for the watched resources (other writes in etcd). */
  bumpResourceVersion(by = 1): void {
    this.rv += by;
  }

  /** Forget history up to now: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  /** Send a BOOKMARK with the current resourceVersion to every watch that asked for them. */
  bookmark(): void {
    for (const w of this.watches) {
      if (!w.bookmarks) continue;
      const object = {
        kind: w.resource.kind,
        apiVersion: apiVersionOf(w.resource, w.version),
        metadata: { resourceVersion: String(this.rv) },
      };
      w.res.write(JSON.stringify({ type: 'BOOKMARK', object }) + '\n');
    }
  }

  /** Cut every open watch mid-stream (the TCP connection is destroyed, no clean end). */
  dropWatches(): void {
    for (const w of this.watches) w.res.socket?.destroy();
    this.watches.clear();
  }

  /** End every open watch cleanly (as the server does when timeoutSeconds expires). */
  endWatches(): void {
    for (const w of this.watches) w.res.end();
    this.watches.clear();
  }

  /** The next `times` requests whose path contains `match` get `status`. */
  failNext(match: string, status: number, times = 1): void {
    this.failures.push({ match, status, times });
  }

  async close(): Promise<void> {
    this.dropWatches();
    this.listeners.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- service-account tokens ----

  /** A service-account token as the TokenRequest API issues it (an ES256 JWT signed by this server). */
  mintToken(o: MintTokenOptions): string {
    const sa = this.findObject('ServiceAccount', o.serviceAccount, o.namespace);
    let pod: { name: string; uid: string } | undefined;
    let node: { name: string; uid?: string } | undefined;
    if (o.pod !== undefined) {
      const p = this.findObject('Pod', o.pod, o.namespace);
      if (!p) throw new Error(`fake-apiserver: cannot bind a token to pod ${o.namespace}/${o.pod}: it does not exist`);
      const spec = (p.spec ?? {}) as { serviceAccountName?: string; nodeName?: string };
      if ((spec.serviceAccountName ?? 'default') !== o.serviceAccount) {
        throw new Error(
          `fake-apiserver: pod ${o.namespace}/${o.pod} runs as ${spec.serviceAccountName ?? 'default'}, not ${o.serviceAccount}`,
        );
      }
      pod = { name: o.pod, uid: p.metadata.uid! };
      if (spec.nodeName) node = this.nodeRef(spec.nodeName);
    }
    if (o.node !== undefined) node = this.nodeRef(o.node);
    const now = Math.floor(Date.now() / 1000);
    const claims: TokenClaims = {
      iss: ISSUER,
      sub: `system:serviceaccount:${o.namespace}:${o.serviceAccount}`,
      aud: o.audiences ?? [...this.apiAudiences],
      exp: now + (o.expirationSeconds ?? 3600),
      nbf: now,
      iat: now,
      jti: randomUUID(),
      'kubernetes.io': {
        namespace: o.namespace,
        serviceaccount: { name: o.serviceAccount, uid: sa?.metadata.uid ?? '' },
        ...(pod ? { pod } : {}),
        ...(node ? { node } : {}),
      },
    };
    const header = b64url(JSON.stringify({ alg: 'ES256', kid: this.keyId }));
    const body = b64url(JSON.stringify(claims));
    const signature = sign('sha256', Buffer.from(`${header}.${body}`), {
      key: this.signingKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${header}.${body}.${b64url(signature)}`;
  }

  /**
   * Who a token is, with the audiences it is good for among `audiences` (default apiAudiences),
   * or why not (the TokenReview `status.error`).
   */
  authenticateToken(token: string, audiences?: string[]): { user: UserInfo; audiences: string[] } | { error: string } {
    const parts = token.split('.');
    if (parts.length !== 3) return { error: 'invalid bearer token' };
    let claims: TokenClaims;
    try {
      const ok = verify(
        'sha256',
        Buffer.from(`${parts[0]}.${parts[1]}`),
        { key: this.verifyKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(parts[2]!, 'base64url'),
      );
      if (!ok) return { error: 'invalid bearer token, square/go-jose: error in cryptographic primitive' };
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return { error: 'invalid bearer token' };
    }
    const now = Math.floor(Date.now() / 1000);
    if (claims.exp <= now) return { error: 'invalid bearer token, service account token has expired' };
    if (claims.nbf > now + 60) return { error: 'invalid bearer token, service account token is not yet valid' };
    const want = audiences && audiences.length > 0 ? audiences : this.apiAudiences;
    const good = want.filter((a) => claims.aud.includes(a));
    if (good.length === 0) {
      return {
        error: `invalid bearer token, token audiences ${JSON.stringify(claims.aud)} is invalid for the target audiences ${JSON.stringify(want)}`,
      };
    }
    const k = claims['kubernetes.io'];
    const sa = this.findObject('ServiceAccount', k.serviceaccount.name, k.namespace);
    if (
      this.serves('ServiceAccount', '') &&
      (!sa || (k.serviceaccount.uid && sa.metadata.uid !== k.serviceaccount.uid))
    ) {
      return {
        error: `invalid bearer token, service account ${k.namespace}/${k.serviceaccount.name} has been deleted`,
      };
    }
    const extra: Record<string, string[]> = { 'authentication.kubernetes.io/credential-id': [`JTI=${claims.jti}`] };
    if (k.pod) {
      const pod = this.findObject('Pod', k.pod.name, k.namespace);
      if (!pod || pod.metadata.uid !== k.pod.uid)
        return { error: `invalid bearer token, pod ${k.namespace}/${k.pod.name} (uid ${k.pod.uid}) no longer exists` };
      extra['authentication.kubernetes.io/pod-name'] = [k.pod.name];
      extra['authentication.kubernetes.io/pod-uid'] = [k.pod.uid];
    }
    if (k.node) {
      extra['authentication.kubernetes.io/node-name'] = [k.node.name];
      if (k.node.uid) extra['authentication.kubernetes.io/node-uid'] = [k.node.uid];
    }
    const user: UserInfo = {
      username: claims.sub,
      uid: k.serviceaccount.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${k.namespace}`, 'system:authenticated'],
      extra,
    };
    return { user, audiences: good };
  }

  private nodeRef(name: string): { name: string; uid?: string } {
    const n = this.serves('Node', '') ? this.findObject('Node', name) : undefined;
    return { name, ...(n?.metadata.uid ? { uid: n.metadata.uid } : {}) };
  }

  private findObject(kind: string, name: string, namespace?: string): FakeObject | undefined {
    const r = [...this.resources.values()].find((x) => x.kind === kind && x.group === '');
    return r ? this.stores.get(resourceId(r))!.get(`${namespace ?? ''}/${name}`) : undefined;
  }

  // ---- RBAC ----

  /** Would RBAC allow `user` this request? (system:masters: always.) */
  authorize(user: UserInfo, a: Attributes): boolean {
    if (user.groups.includes('system:masters')) return true;
    const rules: PolicyRule[] = [];
    const subjectMatches = (s: Subject): boolean => {
      if (s.kind === 'ServiceAccount') return user.username === `system:serviceaccount:${s.namespace}:${s.name}`;
      if (s.kind === 'User') return user.username === s.name;
      if (s.kind === 'Group') return s.name !== undefined && user.groups.includes(s.name);
      return false;
    };
    const roleRules = (ref: { kind?: string; name?: string }, namespace?: string): PolicyRule[] => {
      const role =
        ref.kind === 'Role'
          ? this.findRbac('Role', ref.name ?? '', namespace)
          : this.findRbac('ClusterRole', ref.name ?? '');
      return (role?.rules as PolicyRule[] | undefined) ?? [];
    };
    for (const b of this.rbacObjects('ClusterRoleBinding')) {
      if (((b.subjects as Subject[] | undefined) ?? []).some(subjectMatches))
        rules.push(...roleRules(b.roleRef as Subject));
    }
    if (a.namespace) {
      for (const b of this.rbacObjects('RoleBinding', a.namespace)) {
        if (((b.subjects as Subject[] | undefined) ?? []).some(subjectMatches))
          rules.push(...roleRules(b.roleRef as Subject, a.namespace));
      }
    }
    return rules.some((r) => ruleAllows(r, a));
  }

  private rbacObjects(kind: string, namespace?: string): FakeObject[] {
    const r = RBAC_RESOURCES.find((x) => x.kind === kind)!;
    const store = this.stores.get(resourceId(r));
    if (!store) return [];
    return [...store.values()].filter((o) => namespace === undefined || o.metadata.namespace === namespace);
  }

  private findRbac(kind: string, name: string, namespace?: string): FakeObject | undefined {
    const r = RBAC_RESOURCES.find((x) => x.kind === kind)!;
    return this.stores.get(resourceId(r))?.get(`${namespace ?? ''}/${name}`);
  }

  private requestUser(req: http.IncomingMessage): UserInfo | { error: string } {
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m) return { error: 'no bearer token' };
    if (m[1] === this.adminToken)
      return { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] };
    const r = this.authenticateToken(m[1]!);
    return 'error' in r ? r : r.user;
  }

  private deny(res: http.ServerResponse, user: UserInfo, a: Attributes, path: string): void {
    this.denials.push({
      user: user.username,
      verb: a.verb,
      group: a.group,
      resource: a.subresource ? `${a.resource}/${a.subresource}` : a.resource,
      path,
      ...(a.namespace ? { namespace: a.namespace } : {}),
      ...(a.name ? { name: a.name } : {}),
    });
    const what = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    const where = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
    const subject = a.name ? `${what} "${a.name}"` : what;
    const message = `${subject} is forbidden: User "${user.username}" cannot ${a.verb} resource "${what}" in API group "${a.group}" ${where}`;
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        reason: 'Forbidden',
        details: { ...(a.name ? { name: a.name } : {}), group: a.group, kind: what },
        code: 403,
      }),
    );
  }

  // ---- storage ----

  private resourceForKind(kind: string, group?: string): ServedResource {
    for (const r of this.resources.values())
      if (r.kind === kind && (group === undefined || r.group === group)) return r;
    throw new Error(`fake-apiserver: kind ${kind} not served`);
  }

  private write(type: 'ADDED' | 'MODIFIED', input: FakeObject): FakeObject {
    const group = input.apiVersion?.includes('/') ? input.apiVersion.split('/')[0] : input.apiVersion ? '' : undefined;
    const r = this.resourceForKind(input.kind, group);
    const store = this.stores.get(resourceId(r))!;
    const obj = clone(input);
    const key = objKey(obj);
    const existing = store.get(key);
    if (type === 'ADDED' && existing) throw new Error(`fake-apiserver: ${input.kind} ${key} exists`);
    if (type === 'MODIFIED' && !existing) throw new Error(`fake-apiserver: ${input.kind} ${key} not found`);
    obj.metadata.uid = existing?.metadata.uid ?? obj.metadata.uid ?? `uid-${++this.uidSeq}`;
    // metadata.generation counts spec changes (status writes leave it), as the real server's.
    const generation = (existing?.metadata as { generation?: number } | undefined)?.generation ?? 0;
    (obj.metadata as { generation?: number }).generation =
      existing && JSON.stringify(existing.spec) === JSON.stringify(obj.spec) ? generation : generation + 1;
    if (type === 'ADDED') {
      obj.metadata.creationTimestamp ??= new Date().toISOString();
      if (r.kind === 'Service' && r.group === '') this.allocateClusterIp(obj);
    }
    obj.metadata.resourceVersion = String(++this.rv);
    store.set(key, obj);
    this.record({ rv: this.rv, type, resource: resourceId(r), object: clone(obj) });
    return clone(obj);
  }

  private allocateClusterIp(svc: FakeObject): void {
    const cidr = this.opts.serviceCidr;
    const spec = (svc.spec ??= {}) as { clusterIP?: string; clusterIPs?: string[]; type?: string };
    if (!cidr || spec.clusterIP || spec.type === 'ExternalName') return;
    const [base] = cidr.split('/');
    const o = base!.split('.').map(Number);
    const n = this.nextServiceIp++;
    const ip = cidr.endsWith('/24')
      ? `${o[0]}.${o[1]}.${o[2]}.${n}`
      : `${o[0]}.${o[1]}.${Math.floor(n / 256)}.${n % 256}`;
    spec.clusterIP = ip;
    spec.clusterIPs = [ip];
  }

  private record(ev: HistoryEvent): void {
    this.history.push(ev);
    for (const w of this.watches) this.sendIfMatches(w, ev);
    for (const l of this.listeners) {
      try {
        l(ev.type, clone(ev.object));
      } catch {
        /* a listener's problem is not the server's */
      }
    }
  }

  private sendIfMatches(w: OpenWatch, ev: HistoryEvent): void {
    if (ev.resource !== resourceId(w.resource)) return;
    if (w.namespace && ev.object.metadata.namespace !== w.namespace) return;
    if (!matchesSelectors(ev.object, w.selectors)) return;
    w.res.write(JSON.stringify({ type: ev.type, object: present(ev.object, w.resource, w.version, true) }) + '\n');
  }

  // ---- HTTP ----

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(url.pathname + url.search);
    let user: UserInfo = { username: 'anonymous-admin', groups: ['system:masters'] };
    if (this.opts.rbac) {
      const who = this.requestUser(req);
      if ('error' in who) return status(res, 401, 'Unauthorized', `Unauthorized: ${who.error}`);
      user = who;
    } else if (this.token && req.headers.authorization !== `Bearer ${this.token}`) {
      return status(res, 401, 'Unauthorized', 'no or bad token');
    }
    const fail = this.failures.find((f) => url.pathname.includes(f.match) && f.times > 0);
    if (fail) {
      fail.times--;
      return status(res, fail.status, 'InternalError', 'injected failure');
    }
    if (url.pathname === '/version') return json(res, 200, { major: '1', minor: '33', gitVersion: 'v1.33.0-fake' });
    if (req.method === 'POST' && url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews') {
      const a: Attributes = { verb: 'create', group: 'authentication.k8s.io', resource: 'tokenreviews' };
      if (!this.authorize(user, a)) return this.deny(res, user, a, url.pathname);
      return this.tokenReview(req, res);
    }
    const route = this.route(url.pathname);
    if (!route)
      return status(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    const verb = verbOf(req.method ?? 'GET', route, url);
    const fieldName = /(?:^|,)metadata\.name=([^,]+)/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
    const name = route.name ?? (verb === 'list' || verb === 'watch' ? fieldName : undefined);
    const attrs: Attributes = {
      verb,
      group: route.resource.group,
      resource: route.resource.plural,
      ...(route.subresource ? { subresource: route.subresource } : {}),
      ...(route.namespace ? { namespace: route.namespace } : {}),
      ...(name ? { name } : {}),
    };
    if (!this.authorize(user, attrs)) return this.deny(res, user, attrs, url.pathname);
    if (route.subresource === 'token' && route.resource.kind === 'ServiceAccount' && req.method === 'POST')
      return this.tokenRequest(route, req, res);
    if (route.subresource !== undefined && route.subresource !== 'status')
      return status(res, 404, 'NotFound', `subresource ${route.subresource} is not served`);
    if (route.name !== undefined && req.method === 'PUT') return this.replaceFromRequest(route, req, res);
    if (route.name !== undefined && req.method === 'PATCH') return this.patchFromRequest(route, req, res);
    if (route.name !== undefined && req.method === 'DELETE') return this.deleteFromRequest(route, res);
    if (route.name !== undefined) return this.getOne(route, res);
    if (req.method === 'POST') return this.createFromRequest(route, req, res);
    const selectors = selectorsOf(url);
    if (verb === 'watch') return this.watch(route, url, res, selectors);
    return this.list(route, res, selectors);
  }

  private tokenReview(req: http.IncomingMessage, res: http.ServerResponse): void {
    readJson<{ spec?: { token?: string; audiences?: string[] } }>(req, res, (review) => {
      const token = review.spec?.token ?? '';
      const fixed = this.tokenReviews.get(token);
      let st: Record<string, unknown>;
      if (fixed) {
        // A fixed entry is good for its own audiences (default: whatever the review asks for).
        const asked = review.spec?.audiences ?? [];
        const good = fixed.audiences ? asked.filter((a) => fixed.audiences!.includes(a)) : asked;
        const { audiences: _a, ...who } = fixed;
        st =
          fixed.audiences && asked.length > 0 && good.length === 0
            ? {
                authenticated: false,
                error: 'invalid bearer token, token audiences is invalid for the target audiences',
              }
            : { authenticated: true, user: who, ...(good.length > 0 ? { audiences: good } : {}) };
      } else if (this.opts.rbac) {
        const r = this.authenticateToken(token, review.spec?.audiences);
        st =
          'error' in r
            ? { authenticated: false, error: r.error }
            : { authenticated: true, user: r.user, audiences: r.audiences };
      } else st = { authenticated: false, error: 'invalid bearer token' };
      json(res, 201, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        metadata: { creationTimestamp: null },
        spec: review.spec ?? {},
        status: st,
      });
    });
  }

  /** TokenRequest: POST …/serviceaccounts/SA/token {spec: {audiences, expirationSeconds, boundObjectRef}}. */
  private tokenRequest(route: Route, req: http.IncomingMessage, res: http.ServerResponse): void {
    readJson<{
      spec?: { audiences?: string[]; expirationSeconds?: number; boundObjectRef?: { kind?: string; name?: string } };
    }>(req, res, (body) => {
      const spec = body.spec ?? {};
      const ref = spec.boundObjectRef;
      if (ref && ref.kind !== 'Pod') return status(res, 400, 'BadRequest', `cannot bind a token to a ${ref.kind}`);
      try {
        const expirationSeconds = spec.expirationSeconds ?? 3600;
        const token = this.mintToken({
          namespace: route.namespace!,
          serviceAccount: route.name!,
          expirationSeconds,
          ...(spec.audiences?.length ? { audiences: spec.audiences } : {}),
          ...(ref?.name ? { pod: ref.name } : {}),
        });
        const expirationTimestamp = new Date(Date.now() + expirationSeconds * 1000).toISOString();
        json(res, 201, {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          metadata: { name: route.name, namespace: route.namespace },
          spec,
          status: { token, expirationTimestamp },
        });
      } catch (err) {
        status(res, 400, 'BadRequest', (err as Error).message);
      }
    });
  }

  private getOne(route: Route, res: http.ServerResponse): void {
    const obj = this.stores.get(resourceId(route.resource))!.get(`${route.namespace ?? ''}/${route.name}`);
    if (!obj) return status(res, 404, 'NotFound', `${route.resource.plural} "${route.name}" not found`);
    json(res, 200, present(obj, route.resource, route.version, true));
  }

  private createFromRequest(route: Route, req: http.IncomingMessage, res: http.ServerResponse): void {
    readJson<FakeObject>(req, res, (obj) => {
      if (!obj.metadata?.name)
        return status(res, 422, 'Invalid', `${route.resource.kind} is invalid: metadata.name: Required value`);
      obj.metadata.namespace = route.namespace ?? obj.metadata.namespace;
      if (!route.resource.namespaced) delete obj.metadata.namespace;
      if (this.stores.get(resourceId(route.resource))!.has(objKey(obj)))
        return status(res, 409, 'AlreadyExists', `${route.resource.plural} "${obj.metadata.name}" already exists`);
      const created = this.create({
        ...obj,
        kind: route.resource.kind,
        apiVersion: apiVersionOf(route.resource, route.version),
      });
      json(res, 201, present(created, route.resource, route.version, true));
    });
  }

  /** PUT: 404 when missing, 409 when metadata.resourceVersion is given and stale (as the real server). */
  private replaceFromRequest(route: Route, req: http.IncomingMessage, res: http.ServerResponse): void {
    readJson<FakeObject>(req, res, (obj) => {
      const current = this.stores.get(resourceId(route.resource))!.get(`${route.namespace ?? ''}/${route.name}`);
      if (!current) return status(res, 404, 'NotFound', `${route.resource.plural} "${route.name}" not found`);
      const rv = obj.metadata?.resourceVersion;
      if (rv && rv !== current.metadata.resourceVersion)
        return status(
          res,
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${route.resource.plural} "${route.name}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      // The status subresource changes status only; the main resource keeps the stored status
      // (a status sent there is ignored, as the real server does).
      const next: FakeObject =
        route.subresource === 'status'
          ? { ...clone(current), status: obj.status }
          : withStoredStatus(
              {
                ...obj,
                metadata: {
                  ...obj.metadata,
                  name: route.name!,
                  ...(route.namespace ? { namespace: route.namespace } : {}),
                },
              },
              current,
            );
      const updated = this.update({
        ...next,
        kind: route.resource.kind,
        apiVersion: apiVersionOf(route.resource, route.version),
      });
      json(res, 200, present(updated, route.resource, route.version, true));
    });
  }

  /** PATCH with a JSON merge patch (strategic merge patches are applied as merge patches). */
  private patchFromRequest(route: Route, req: http.IncomingMessage, res: http.ServerResponse): void {
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim();
    if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json') {
      req.resume();
      return status(
        res,
        415,
        'UnsupportedMediaType',
        `the fake API server takes merge patches only, not ${type || 'no content type'}`,
      );
    }
    readJson<Record<string, unknown>>(req, res, (patch) => {
      const current = this.stores.get(resourceId(route.resource))!.get(`${route.namespace ?? ''}/${route.name}`);
      if (!current) return status(res, 404, 'NotFound', `${route.resource.plural} "${route.name}" not found`);
      // A resourceVersion in the patch is a precondition, as on the real server.
      const rv = (patch.metadata as { resourceVersion?: unknown } | undefined)?.resourceVersion;
      if (typeof rv === 'string' && rv !== current.metadata.resourceVersion)
        return status(
          res,
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${route.resource.plural} "${route.name}"`,
        );
      const scoped = route.subresource === 'status' ? { status: patch.status } : patch;
      let merged = mergePatch(clone(current), scoped) as FakeObject;
      if (route.subresource !== 'status') merged = withStoredStatus(merged, current);
      merged.metadata = {
        ...merged.metadata,
        name: route.name!,
        ...(route.namespace ? { namespace: route.namespace } : {}),
      };
      const updated = this.update({
        ...merged,
        kind: route.resource.kind,
        apiVersion: apiVersionOf(route.resource, route.version),
      });
      json(res, 200, present(updated, route.resource, route.version, true));
    });
  }

  private deleteFromRequest(route: Route, res: http.ServerResponse): void {
    const store = this.stores.get(resourceId(route.resource))!;
    const key = `${route.namespace ?? ''}/${route.name}`;
    const old = store.get(key);
    if (!old) return status(res, 404, 'NotFound', `${route.resource.plural} "${route.name}" not found`);
    store.delete(key);
    const gone = clone(old);
    gone.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, type: 'DELETED', resource: resourceId(route.resource), object: gone });
    json(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
  }

  private route(path: string): Route | undefined {
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    let group: string;
    let rest: string[];
    if (parts[0] === 'api') {
      group = '';
      rest = parts.slice(1);
    } else if (parts[0] === 'apis' && parts.length >= 3) {
      group = parts[1]!;
      rest = parts.slice(2);
    } else return undefined;
    const [version, ...tail] = rest;
    let namespace: string | undefined;
    let plural: string | undefined;
    let name: string | undefined;
    let sub: string | undefined;
    const namespacedPlural =
      tail[0] === 'namespaces' && tail.length >= 3 ? this.resources.get(`${group}/${tail[2]}`) : undefined;
    if (namespacedPlural?.namespaced && tail.length <= 5) [, namespace, plural, name, sub] = tail;
    else if (tail.length >= 1 && tail.length <= 3) [plural, name, sub] = tail;
    else return undefined;
    const resource = this.resources.get(`${group}/${plural}`);
    if (!resource || !version || !resource.versions.includes(version)) return undefined;
    if (namespace && !resource.namespaced) return undefined;
    return {
      resource,
      version,
      ...(namespace ? { namespace } : {}),
      ...(name ? { name } : {}),
      ...(sub ? { subresource: sub } : {}),
    };
  }

  private objects(resource: ServedResource, namespace?: string, selectors: Selectors = {}): FakeObject[] {
    const all = [...this.stores.get(resourceId(resource))!.values()];
    return all.filter((o) => (!namespace || o.metadata.namespace === namespace) && matchesSelectors(o, selectors));
  }

  private list(route: Route, res: http.ServerResponse, selectors: Selectors): void {
    const { resource, version } = route;
    json(res, 200, {
      kind: `${resource.kind}List`,
      apiVersion: apiVersionOf(resource, version),
      metadata: { resourceVersion: String(this.rv) },
      items: this.objects(resource, route.namespace, selectors).map((o) =>
        present(o, resource, version, resource.crd === true),
      ),
    });
  }

  private watch(route: Route, url: URL, res: http.ServerResponse, selectors: Selectors): void {
    const rvParam = url.searchParams.get('resourceVersion');
    const from = rvParam ? Number(rvParam) : 0;
    const expired = from > 0 && from < this.compactedRv;
    if (expired && this.expiredAs === 'status')
      return status(res, 410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (expired) {
      const st = {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        code: 410,
        reason: 'Expired',
        message: `too old resource version: ${from} (${this.compactedRv})`,
      };
      res.end(JSON.stringify({ type: 'ERROR', object: st }) + '\n');
      return;
    }
    const w: OpenWatch = {
      resource: route.resource,
      version: route.version,
      res,
      bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true',
      selectors,
      ...(route.namespace ? { namespace: route.namespace } : {}),
    };
    if (from === 0) {
      for (const o of this.objects(route.resource, route.namespace, selectors)) {
        res.write(JSON.stringify({ type: 'ADDED', object: present(o, route.resource, route.version, true) }) + '\n');
      }
    } else {
      for (const ev of this.history) if (ev.rv > from) this.sendIfMatches(w, ev);
    }
    this.watches.add(w);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      this.watches.delete(w);
      if (timer) clearTimeout(timer);
    });
  }
}

function verbOf(method: string, route: Route, url: URL): Verb {
  const watch = url.searchParams.get('watch');
  switch (method) {
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return route.name === undefined ? 'deletecollection' : 'delete';
    default:
      return route.name !== undefined ? 'get' : watch === '1' || watch === 'true' ? 'watch' : 'list';
  }
}

function ruleAllows(rule: PolicyRule, a: Attributes): boolean {
  const has = (list: string[] | undefined, v: string): boolean =>
    (list ?? []).includes('*') || (list ?? []).includes(v);
  if (!has(rule.verbs, a.verb) || !has(rule.apiGroups, a.group)) return false;
  const full = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const resourceOk = (rule.resources ?? []).some(
    (r) =>
      r === '*' ||
      r === full ||
      (a.subresource !== undefined && (r === `${a.resource}/*` || r === `*/${a.subresource}`)),
  );
  if (!resourceOk) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0)
    return a.name !== undefined && rule.resourceNames.includes(a.name);
  return true;
}

function selectorsOf(url: URL): Selectors {
  const labels = url.searchParams.get('labelSelector') ?? undefined;
  const fields = url.searchParams.get('fieldSelector') ?? undefined;
  return { ...(labels ? { labels } : {}), ...(fields ? { fields } : {}) };
}

/** Equality-based label selectors (k=v, k==v, k!=v, k, !k) and the common field selectors. */
function matchesSelectors(o: FakeObject, s: Selectors): boolean {
  const labels = o.metadata.labels ?? {};
  for (const term of (s.labels ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)) {
    let m: RegExpExecArray | null;
    if ((m = /^([^!=]+)!=(.*)$/.exec(term))) {
      if (labels[m[1]!.trim()] === m[2]!.trim()) return false;
    } else if ((m = /^([^!=]+)==?(.*)$/.exec(term))) {
      if (labels[m[1]!.trim()] !== m[2]!.trim()) return false;
    } else if (term.startsWith('!')) {
      if (term.slice(1) in labels) return false;
    } else if (!(term in labels)) return false;
  }
  for (const term of (s.fields ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)) {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term);
    if (!m) continue;
    const value = fieldValue(o, m[1]!.trim());
    if ((m[2] === '!=') === (value === m[3])) return false;
  }
  return true;
}

function fieldValue(o: FakeObject, path: string): string | undefined {
  let cur: unknown = o;
  for (const k of path.split('.'))
    cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined;
  return cur === undefined || cur === null ? '' : String(cur);
}

/** The object with the stored object's status (a write to the main resource does not change status). */
function withStoredStatus(obj: FakeObject, stored: FakeObject): FakeObject {
  const { status: _ignored, ...rest } = obj;
  return stored.status === undefined ? (rest as FakeObject) : { ...rest, status: clone(stored.status) };
}

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function readJson<T>(req: http.IncomingMessage, res: http.ServerResponse, then: (body: T) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: T;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
    } catch {
      return status(res, 400, 'BadRequest', 'the body is not JSON');
    }
    then(body);
  });
}

function json(res: http.ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A self-signed ECDSA server certificate for `host` (and the in-cluster names), made by openssl. */
function selfSignedCertificate(host: string): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ambit-fake-apiserver-'));
  try {
    const san = [
      `${isIP(host) ? 'IP' : 'DNS'}:${host}`,
      'IP:127.0.0.1',
      'DNS:localhost',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
    ];
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=kube-apiserver',
        '-addext',
        `subjectAltName=${[...new Set(san)].join(',')}`,
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'pipe' },
    );
    return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function apiVersionOf(r: ServedResource, version: string): string {
  return r.group ? `${r.group}/${version}` : version;
}

/** The object as served in `version`; built-in list items carry no kind/apiVersion. */
function present(o: FakeObject, r: ServedResource, version: string, withType: boolean): FakeObject {
  const out = clone(o);
  delete out.apiVersion;
  const { kind: _k, ...rest } = out;
  return withType ? { apiVersion: apiVersionOf(r, version), kind: r.kind, ...rest } : ({ ...rest } as FakeObject);
}

function status(res: http.ServerResponse, code: number, reason: string, message: string): void {
  json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

/** The kinds Ambit's kube source watches, as a real cluster with Istio + Gateway API serves them. */
export const STANDARD_RESOURCES: readonly ServedResource[] = [
  { group: '', versions: ['v1'], plural: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: '', versions: ['v1'], plural: 'pods', kind: 'Pod', namespaced: true },
  { group: '', versions: ['v1'], plural: 'services', kind: 'Service', namespaced: true },
  { group: '', versions: ['v1'], plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
  { group: '', versions: ['v1'], plural: 'nodes', kind: 'Node', namespaced: false },
  { group: 'discovery.k8s.io', versions: ['v1'], plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true },
];

/** The RBAC kinds (served automatically in RBAC mode). */
export const RBAC_RESOURCES: readonly ServedResource[] = [
  { group: 'rbac.authorization.k8s.io', versions: ['v1'], plural: 'roles', kind: 'Role', namespaced: true },
  {
    group: 'rbac.authorization.k8s.io',
    versions: ['v1'],
    plural: 'rolebindings',
    kind: 'RoleBinding',
    namespaced: true,
  },
  {
    group: 'rbac.authorization.k8s.io',
    versions: ['v1'],
    plural: 'clusterroles',
    kind: 'ClusterRole',
    namespaced: false,
  },
  {
    group: 'rbac.authorization.k8s.io',
    versions: ['v1'],
    plural: 'clusterrolebindings',
    kind: 'ClusterRoleBinding',
    namespaced: false,
  },
];

/** Other built-in kinds a chart install writes or reads. */
export const EXTRA_CORE_RESOURCES: readonly ServedResource[] = [
  { group: '', versions: ['v1'], plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  { group: '', versions: ['v1'], plural: 'secrets', kind: 'Secret', namespaced: true },
  { group: 'apps', versions: ['v1'], plural: 'deployments', kind: 'Deployment', namespaced: true },
  { group: 'apps', versions: ['v1'], plural: 'daemonsets', kind: 'DaemonSet', namespaced: true },
  { group: 'coordination.k8s.io', versions: ['v1'], plural: 'leases', kind: 'Lease', namespaced: true },
  { group: 'policy', versions: ['v1'], plural: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true },
];
