import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { analyzePaths, register, runAnalyze } from './analyze.js';
import { TESTDATA } from '../controller/translate/testdata/load.js';

const BAD_VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec:
  hosts: [reviews]
  http:
    - route:
        - destination: { host: reviews }
          weight: 60
        - destination: { host: reviews }
          weight: -10
`;

describe('ambitctl analyze', () => {
  let dir: string;
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'ambit-analyze-')); });
  afterEach(async () => { await rm(dir, { recursive: true, force: true }); process.exitCode = undefined; vi.restoreAllMocks(); });

  it('accepts the coffee-shop example', async () => {
    const lines: string[] = [];
    expect(await runAnalyze([join(TESTDATA, 'coffee-shop')], { out: (l) => lines.push(l) })).toBe(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/no problems found \(\d+ objects/);
  });

  it('prints one line per problem with kind/ns/name, field, reason and file:line, and fails', async () => {
    await writeFile(join(dir, 'vs.yaml'), `# leading comment\n${BAD_VS}---\nkind: [\n`);
    const report = await analyzePaths([dir]);
    expect(report.problems).toHaveLength(2);
    expect(report.problems).toContain(`VirtualService/shop/reviews: spec.http[0].route[1].weight: weight -10 must be a non-negative integer (${join(dir, 'vs.yaml')}:2)`);
    expect(report.problems.some((p) => p.startsWith(`${join(dir, 'vs.yaml')}:`) && p.includes('YAML'))).toBe(true);
    const lines: string[] = [];
    expect(await runAnalyze([dir], { out: (l) => lines.push(l) })).toBe(1);
    expect(lines).toEqual(report.problems);
  });

  it('reports references to hosts and gateways that do not exist', async () => {
    await writeFile(join(dir, 'vs.yaml'), `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: edge, namespace: shop }
spec:
  hosts: [shop.example.com]
  gateways: [ingress, mesh]
  http: [{ route: [{ destination: { host: missing } }], mirror: { host: api.example.com } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: shop }
spec: { hosts: ["*.example.com"], ports: [{ number: 443, name: tls, protocol: TLS }] }
`);
    const report = await analyzePaths([dir]);
    expect(report.problems).toEqual([
      `VirtualService/shop/edge: spec.gateways[0]: Gateway shop/ingress not found (${join(dir, 'vs.yaml')}:1)`,
      `VirtualService/shop/edge: spec.http[0].route[0].destination.host: host missing.shop.svc.cluster.local not found: no Service or ServiceEntry defines it (IST0101) (${join(dir, 'vs.yaml')}:1)`,
    ]);
  });

  it('reports a missing path', async () => {
    const report = await analyzePaths([join(dir, 'nope')]);
    expect(report.problems).toEqual([`${join(dir, 'nope')}: no such file or directory`]);
  });

  it('runs as a commander subcommand and sets the exit code', async () => {
    await writeFile(join(dir, 'vs.yaml'), BAD_VS);
    const logged: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((l: unknown) => { logged.push(String(l)); });
    const program = new Command('ambitctl').exitOverride();
    register(program);
    await program.parseAsync(['node', 'ambitctl', 'analyze', '-f', join(dir, 'vs.yaml')]);
    expect(process.exitCode).toBe(1);
    expect(logged).toEqual([`VirtualService/shop/reviews: spec.http[0].route[1].weight: weight -10 must be a non-negative integer (${join(dir, 'vs.yaml')}:1)`]);

    logged.length = 0;
    const ok = new Command('ambitctl').exitOverride();
    register(ok);
    await ok.parseAsync(['node', 'ambitctl', 'analyze', '-f', join(TESTDATA, 'coffee-shop')]);
    expect(process.exitCode).toBe(0);
    expect(logged[0]).toMatch(/no problems found/);
  });
});
