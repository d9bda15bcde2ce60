// A small Kubernetes API server for tests (the one mock the brief allows). It speaks the real
// REST + watch protocol over node:http on 127.0.0.1: lists carry `metadata.resourceVersion`
// (core-group list items omit kind/apiVersion, as the real server does), `?watch=1`
// streams one JSON event per line (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR) from a
// resourceVersion, and a watch from a compacted resourceVersion gets 410 Gone. Test controls
// create/update/delete objects, compact history, drop watches mid-stream, send bookmarks and
// inject failures.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeObject {
  apiVersion?: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; [k: string]: unknown };
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

interface HistoryEvent { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; resource: string; object: FakeObject }
interface Route { resource: ServedResource; version: string; namespace?: string; name?: string }
interface OpenWatch { resource: ServedResource; version: string; namespace?: string; res: http.ServerResponse; bookmarks: boolean }

const resourceId = (r: Pick<ServedResource, 'group' | 'plural'>): string => `${r.group}/${r.plural}`;
const objKey = (o: FakeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const clone = <T>(v: T): T => structuredClone(v);

export class FakeApiServer {
  private readonly server: http.Server;
  private readonly resources = new Map<string, ServedResource>();
  private readonly stores = new Map<string, Map<string, FakeObject>>();
  private readonly history: HistoryEvent[] = [];
  private readonly watches = new Set<OpenWatch>();
  private readonly failures: Array<{ match: string; status: number; times: number }> = [];
  private rv = 100;
  private compactedRv = 0;
  private uidSeq = 0;
  /** How an expired resourceVersion is reported: HTTP 410 or a 200 stream with an ERROR event. */
  expiredAs: 'status' | 'event' = 'event';
  /** Every request path+query served, for assertions. */
  readonly requests: string[] = [];
  token: string | undefined;
  /** TokenReview answers: token → the user it authenticates (others: authenticated false). */
  readonly tokenReviews = new Map<string, { username: string; extra?: Record<string, string[]> }>();

  private constructor() {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  static async start(opts: { token?: string } = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer();
    s.token = opts.token;
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    return s;
  }

  get url(): string {
    const a = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${a.port}`;
  }

  /** A kubeconfig (YAML) pointing at this server. */
  kubeconfig(): string {
    const user = this.token ? `    token: ${this.token}\n` : '    username: test\n    password: test\n';
    return [
      'apiVersion: v1', 'kind: Config', 'current-context: fake',
      'clusters:', '- name: fake', '  cluster:', `    server: ${this.url}`, '    insecure-skip-tls-verify: true',
      'users:', '- name: fake', '  user:', user.trimEnd(),
      'contexts:', '- name: fake', '  context:', '    cluster: fake', '    user: fake', '',
    ].join('\n');
  }

  serve(r: ServedResource): void {
    this.resources.set(resourceId(r), r);
    if (!this.stores.has(resourceId(r))) this.stores.set(resourceId(r), new Map());
  }

  /** Stop serving a resource (as when its CRD is deleted): lists and watches get 404. */
  unserve(group: string, plural: string): void {
    this.resources.delete(resourceId({ group, plural }));
    for (const w of this.watches) if (resourceId(w.resource) === resourceId({ group, plural })) w.res.destroy();
  }

  get resourceVersion(): number { return this.rv; }
  get openWatches(): number { return this.watches.size; }

  create(obj: FakeObject): FakeObject { return this.write('ADDED', obj); }
  update(obj: FakeObject): FakeObject { return this.write('MODIFIED', obj); }
  delete(kind: string, name: string, namespace?: string): void {
    const r = this.resourceForKind(kind);
    const store = this.stores.get(resourceId(r))!;
    const key = `${namespace ?? ''}/${name}`;
    const old = store.get(key);
    if (!old) throw new Error(`fake-apiserver: ${kind} ${key} not found`);
    store.delete(key);
    const gone = clone(old);
    gone.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, type: 'DELETED', resource: resourceId(r), object: gone });
  }

  /** Advance the resourceVersion with no event for the watched resources (other writes in etcd). */
  bumpResourceVersion(by = 1): void { this.rv += by; }

  /** Forget history up to now: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history.length = 0;
  }

  /** Send a BOOKMARK with the current resourceVersion to every watch that asked for them. */
  bookmark(): void {
    for (const w of this.watches) {
      if (!w.bookmarks) continue;
      const object = { kind: w.resource.kind, apiVersion: apiVersionOf(w.resource, w.version), metadata: { resourceVersion: String(this.rv) } };
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
  failNext(match: string, status: number, times = 1): void { this.failures.push({ match, status, times }); }

  async close(): Promise<void> {
    this.dropWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private resourceForKind(kind: string, group?: string): ServedResource {
    for (const r of this.resources.values()) if (r.kind === kind && (group === undefined || r.group === group)) return r;
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
    obj.metadata.resourceVersion = String(++this.rv);
    store.set(key, obj);
    this.record({ rv: this.rv, type, resource: resourceId(r), object: clone(obj) });
    return clone(obj);
  }

  private record(ev: HistoryEvent): void {
    this.history.push(ev);
    for (const w of this.watches) this.sendIfMatches(w, ev);
  }

  private sendIfMatches(w: OpenWatch, ev: HistoryEvent): void {
    if (ev.resource !== resourceId(w.resource)) return;
    if (w.namespace && ev.object.metadata.namespace !== w.namespace) return;
    w.res.write(JSON.stringify({ type: ev.type, object: present(ev.object, w.resource, w.version, true) }) + '\n');
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push(url.pathname + url.search);
    if (this.token && req.headers.authorization !== `Bearer ${this.token}`) return status(res, 401, 'Unauthorized', 'no or bad token');
    const fail = this.failures.find((f) => url.pathname.includes(f.match) && f.times > 0);
    if (fail) {
      fail.times--;
      return status(res, fail.status, 'InternalError', 'injected failure');
    }
    if (req.method === 'POST' && url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews') return this.tokenReview(req, res);
    const route = this.route(url.pathname);
    if (!route) return status(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    if (route.name !== undefined && req.method === 'PUT') return this.replaceFromRequest(route, req, res);
    if (route.name !== undefined && req.method === 'DELETE') return this.deleteFromRequest(route, res);
    if (route.name !== undefined) return this.getOne(route, res);
    if (req.method === 'POST') return this.createFromRequest(route, req, res);
    const watch = url.searchParams.get('watch');
    if (watch === '1' || watch === 'true') return this.watch(route, url, res);
    return this.list(route, res);
  }

  private tokenReview(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { spec?: { token?: string } };
      const user = this.tokenReviews.get(review.spec?.token ?? '');
      const status = user ? { authenticated: true, user } : { authenticated: false, error: 'invalid bearer token' };
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: review.spec, status }));
    });
  }

  private getOne(route: Route, res: http.ServerResponse): void {
    const obj = this.stores.get(resourceId(route.resource))!.get(`${route.namespace ?? ''}/${route.name}`);
    if (!obj) return status(res, 404, 'NotFound', `${route.resource.plural} "${route.name}" not found`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(present(obj, route.resource, route.version, true)));
  }

  private createFromRequest(route: Route, req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const obj = JSON.parse(Buffer.concat(chunks).toString('utf8')) as FakeObject;
      obj.metadata.namespace = route.namespace ?? obj.metadata.namespace;
      if (this.stores.get(resourceId(route.resource))!.has(objKey(obj))) return status(res, 409, 'AlreadyExists', `${route.resource.plural} "${obj.metadata.name}" already exists`);
      const created = this.create({ ...obj, kind: route.resource.kind, apiVersion: apiVersionOf(route.resource, route.version) });
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify(present(created, route.resource, route.version, true)));
    });
  }

  /** PUT: 404 when missing, 409 when metadata.resourceVersion is given and stale (as the real server). */
  private replaceFromRequest(route: Route, req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const obj = JSON.parse(Buffer.concat(chunks).toString('utf8')) as FakeObject;
      const current = this.stores.get(resourceId(route.resource))!.get(`${route.namespace ?? ''}/${route.name}`);
      if (!current) return status(res, 404, 'NotFound', `${route.resource.plural} "${route.name}" not found`);
      const rv = obj.metadata.resourceVersion;
      if (rv && rv !== current.metadata.resourceVersion) return status(res, 409, 'Conflict', `the object has been modified; please apply your changes to the latest version`);
      const updated = this.update({ ...obj, kind: route.resource.kind, apiVersion: apiVersionOf(route.resource, route.version), metadata: { ...obj.metadata, name: route.name!, ...(route.namespace ? { namespace: route.namespace } : {}) } });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(present(updated, route.resource, route.version, true)));
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
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' }));
  }

  private route(path: string): Route | undefined {
    const parts = path.split('/').filter(Boolean);
    let group: string; let rest: string[];
    if (parts[0] === 'api') { group = ''; rest = parts.slice(1); }
    else if (parts[0] === 'apis' && parts.length >= 3) { group = parts[1]!; rest = parts.slice(2); }
    else return undefined;
    const [version, ...tail] = rest;
    let namespace: string | undefined; let plural: string | undefined; let name: string | undefined;
    if (tail.length === 1 || tail.length === 2) [plural, name] = tail;
    else if ((tail.length === 3 || tail.length === 4) && tail[0] === 'namespaces') [, namespace, plural, name] = tail;
    else return undefined;
    const resource = this.resources.get(`${group}/${plural}`);
    if (!resource || !version || !resource.versions.includes(version)) return undefined;
    if (namespace && !resource.namespaced) return undefined;
    return { resource, version, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) };
  }

  private objects(resource: ServedResource, namespace?: string): FakeObject[] {
    const all = [...this.stores.get(resourceId(resource))!.values()];
    return namespace ? all.filter((o) => o.metadata.namespace === namespace) : all;
  }

  private list(route: Route, res: http.ServerResponse): void {
    const { resource, version } = route;
    const body = {
      kind: `${resource.kind}List`,
      apiVersion: apiVersionOf(resource, version),
      metadata: { resourceVersion: String(this.rv) },
      items: this.objects(resource, route.namespace).map((o) => present(o, resource, version, resource.crd === true)),
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private watch(route: Route, url: URL, res: http.ServerResponse): void {
    const rvParam = url.searchParams.get('resourceVersion');
    const from = rvParam ? Number(rvParam) : 0;
    const expired = from > 0 && from < this.compactedRv;
    if (expired && this.expiredAs === 'status') return status(res, 410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (expired) {
      const st = { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: `too old resource version: ${from} (${this.compactedRv})` };
      res.end(JSON.stringify({ type: 'ERROR', object: st }) + '\n');
      return;
    }
    const w: OpenWatch = { resource: route.resource, version: route.version, res, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true', ...(route.namespace ? { namespace: route.namespace } : {}) };
    if (from === 0) {
      for (const o of this.objects(route.resource, route.namespace)) {
        res.write(JSON.stringify({ type: 'ADDED', object: present(o, route.resource, route.version, true) }) + '\n');
      }
    } else {
      for (const ev of this.history) if (ev.rv > from) this.sendIfMatches(w, ev);
    }
    this.watches.add(w);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => { this.watches.delete(w); if (timer) clearTimeout(timer); });
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
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
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
