// `ambitctl proxy-config workloads|services|policies|certs|routes [--admin ADDR] [-o json]`:
// what an agent or a waypoint holds now, read from its admin endpoint's GET /config_dump
// (agent: workloads, services, policies, certificates, pods; waypoint: routes, clusters,
// authorizationPolicies, certificates).
import type { Command } from 'commander';
import type { ConfigDump } from '../core/admin/dump.js';
import { AmbitError } from '../core/errors.js';

export const SECTIONS = ['workloads', 'services', 'policies', 'certs', 'routes'] as const;
export type Section = (typeof SECTIONS)[number];

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Rec) : {});
const arr = (v: unknown): Rec[] => (Array.isArray(v) ? v.map(rec) : []);
const s = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));

export interface Table {
  readonly headers: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
}

export function renderTable(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(t.headers), ...t.rows.map(line)].join('\n');
}

const labelsText = (v: unknown) =>
  Object.entries(rec(v))
    .map(([k, x]) => `${k}=${s(x)}`)
    .join(',');

function ruleText(rule: Rec): string {
  const part = (name: string, list: Rec[]) =>
    list
      .map((x) =>
        Object.entries(x)
          .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('|') : s(v)}`)
          .join(' '),
      )
      .filter(Boolean)
      .map((t) => `${name}(${t})`)
      .join(' ');
  return (
    [
      part('from', arr(rule.from)),
      part(
        'to',
        arr(rule.to).map((t) => rec(t.operation ?? t)),
      ),
      part('when', arr(rule.when)),
    ]
      .filter(Boolean)
      .join(' ') || '(any)'
  );
}

/**
 * The rows of one section of a config_dump (agent or waypoint; core/admin/dump.ts has the
 * shapes). Read defensively: the dump comes from another process, maybe of another version.
 */
export function sectionData(dump: unknown, section: Section): { items: unknown[]; table: Table } {
  const d = rec(dump);
  switch (section) {
    case 'workloads': {
      const items = arr(d.workloads);
      const local = new Set(arr(d.pods).map((p) => `${s(p.namespace)}/${s(p.name)}`));
      return {
        items,
        table: {
          headers: ['NAMESPACE', 'NAME', 'IP', 'NODE', 'IDENTITY', 'PROTOCOL', 'HERE'],
          rows: items.map((w) => [
            s(w.namespace),
            s(w.name),
            ((w.ips as string[] | undefined) ?? []).join(','),
            s(w.node),
            s(w.identity),
            w.enrolled ? 'HBONE' : 'TCP',
            local.has(`${s(w.namespace)}/${s(w.name)}`) ? 'yes' : '',
          ]),
        },
      };
    }
    case 'services': {
      const items = arr(d.services);
      return {
        items,
        table: {
          headers: ['NAMESPACE', 'NAME', 'VIPS', 'PORTS', 'ENDPOINTS', 'WAYPOINT'],
          rows: items.map((x) => [
            s(x.namespace),
            s(x.name),
            ((x.vips as string[] | undefined) ?? []).join(','),
            arr(x.ports)
              .map(
                (p) =>
                  `${s(p.port)}${p.targetPort && p.targetPort !== p.port ? `→${s(p.targetPort)}` : ''}/${s(p.protocol)}`,
              )
              .join(','),
            String(arr(x.endpoints).length),
            s(rec(x.waypoint).name ?? rec(x.waypoint).address),
          ]),
        },
      };
    }
    case 'policies': {
      const p = rec(d.policies);
      const authz = [...arr(p.authorization), ...arr(d.authorizationPolicies)];
      const peer = arr(p.peerAuthentication);
      const items = [
        ...authz.map((x) => ({ kind: 'AuthorizationPolicy', ...x })),
        ...peer.map((x) => ({ kind: 'PeerAuthentication', ...x })),
      ];
      const scope = (x: Rec) => {
        const sc = rec(x.scope);
        return `${s(sc.namespace)}${sc.level === 'workload' ? ` [${labelsText(sc.selector)}]` : sc.level === 'mesh' ? ' (mesh)' : ''}`;
      };
      return {
        items,
        table: {
          headers: ['KIND', 'NAME', 'SCOPE', 'ACTION/MODE', 'RULES'],
          rows: [
            ...authz.map((x) => [
              'AuthorizationPolicy',
              s(x.name),
              scope(x),
              s(x.action),
              arr(x.rules).map(ruleText).join('; ') || '(none: matches nothing)',
            ]),
            ...peer.map((x) => [
              'PeerAuthentication',
              s(x.name),
              scope(x),
              s(x.mode),
              Object.entries(rec(x.portLevelMtls))
                .map(([k, v]) => `${k}:${s(v)}`)
                .join(','),
            ]),
          ],
        },
      };
    }
    case 'certs': {
      const items = arr(d.certificates);
      const now = Date.now();
      return {
        items,
        table: {
          headers: ['IDENTITY', 'NOT AFTER', 'EXPIRES IN'],
          rows: items.map((c) => {
            const at = new Date(s(c.notAfter));
            const left = Math.round((at.getTime() - now) / 1000);
            return [
              s(c.identity),
              Number.isNaN(at.getTime()) ? s(c.notAfter) : at.toISOString(),
              left > 0
                ? `${Math.floor(left / 3600)}h${String(Math.floor((left % 3600) / 60)).padStart(2, '0')}m`
                : 'EXPIRED',
            ];
          }),
        },
      };
    }
    case 'routes': {
      const hosts = arr(d.routes);
      const items = hosts;
      const destinations = (r: Rec): string =>
        arr(r.destinations)
          .map((x) => `${s(x.host)}${x.subset ? `/${s(x.subset)}` : ''}:${s(x.port)} ${s(x.weight)}%`)
          .join(', ');
      // tcp/tls routes: MATCH names the kind and, for tls, the SNI patterns.
      const l4Match = (kind: 'tcp' | 'tls', r: Rec): string =>
        arr(r.matches).length === 0
          ? `${kind} *`
          : arr(r.matches)
              .map(
                (m) => `${kind} ${Array.isArray(m.sniHosts) ? `sni=${m.sniHosts.map(s).join(',')}` : s(m.port ?? m)}`,
              )
              .join(' | ');
      const rows = hosts.flatMap((h) => [
        ...arr(h.tlsRoutes).map((r) => [s(h.name), s(r.source), l4Match('tls', r), destinations(r)]),
        ...arr(h.tcpRoutes).map((r) => [s(h.name), s(r.source), l4Match('tcp', r), destinations(r)]),
        ...arr(h.routes).map((r) => [
          s(h.name),
          s(r.source),
          arr(r.matches).length === 0
            ? '/*'
            : arr(r.matches)
                .map((m) => s(m.uri ?? m))
                .join(' | '),
          r.redirect
            ? `redirect ${s(r.redirect)}`
            : r.directResponse
              ? `respond ${s(rec(r.directResponse).status)}`
              : destinations(r),
        ]),
      ]);
      return { items, table: { headers: ['VIRTUAL HOST', 'SOURCE', 'MATCH', 'ROUTE'], rows } };
    }
  }
}

export async function fetchDump(admin: string): Promise<ConfigDump> {
  const base = /^https?:\/\//.test(admin) ? admin : `http://${admin}`;
  let res: Response;
  try {
    res = await fetch(`${base.replace(/\/$/, '')}/config_dump`, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new AmbitError(
      'AMBIT_E_CONFIG',
      `cannot reach the admin endpoint ${admin}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`,
      {
        hint: 'is the agent running? pass --admin HOST:PORT (an agent: 127.0.0.1:15000; local up with --port-offset N: 15000+N)',
      },
    );
  }
  if (!res.ok) throw new AmbitError('AMBIT_E_CONFIG', `${admin}/config_dump answered HTTP ${res.status}`);
  return (await res.json()) as ConfigDump;
}

export function register(program: Command): void {
  program
    .command('proxy-config')
    .description('what an agent or waypoint holds now, from its admin endpoint')
    .argument('<section>', SECTIONS.join('|'))
    .option('--admin <addr>', 'admin endpoint (host:port)', '127.0.0.1:15000')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (section: string, opts: { admin: string; output: string }) => {
      if (!(SECTIONS as readonly string[]).includes(section))
        throw new AmbitError('AMBIT_E_CONFIG', `unknown section "${section}": one of ${SECTIONS.join(', ')}`);
      if (opts.output !== 'table' && opts.output !== 'json')
        throw new AmbitError('AMBIT_E_CONFIG', `-o ${opts.output}: table or json`);
      const data = sectionData(await fetchDump(opts.admin), section as Section);
      console.log(
        opts.output === 'json'
          ? JSON.stringify(data.items, null, 2)
          : data.table.rows.length === 0
            ? `no ${section} at ${opts.admin}`
            : renderTable(data.table),
      );
    });
}
