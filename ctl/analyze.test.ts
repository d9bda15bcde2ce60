import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { parse } from 'yaml';
import { analyzePaths, EXIT_ISSUES_FOUND, register, runAnalyze } from './analyze.js';
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
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-analyze-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
    process.exitCode = undefined;
    vi.restoreAllMocks();
  });

  it('accepts the coffee-shop example', async () => {
    const lines: string[] = [];
    expect(await runAnalyze([join(TESTDATA, 'coffee-shop')], { out: (l) => lines.push(l) })).toBe(0);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/No validation issues found .*\(\d+ objects\)/);
  });

  it('prints istioctl lines with level, code, object and file:line; errors exit 79, unreadable files 1', async () => {
    const file = join(dir, 'vs.yaml');
    await writeFile(file, `# leading comment\n${BAD_VS}`);
    const report = await analyzePaths([dir]);
    expect(report.problems).toEqual([
      `VirtualService/shop/reviews: spec.http[0].route[1].weight: Error [IST0106] Schema validation error: spec.http[0].route[1].weight: weight -10 must be a non-negative integer (${file}:2)`,
    ]);
    const lines: string[] = [];
    expect(await runAnalyze([dir], { out: (l) => lines.push(l) })).toBe(EXIT_ISSUES_FOUND);
    expect(lines).toEqual([
      `Error [IST0106] (VirtualService shop/reviews ${file}:2) Schema validation error: spec.http[0].route[1].weight: weight -10 must be a non-negative integer`,
    ]);
    await writeFile(join(dir, 'broken.yaml'), 'kind: [\n');
    const broken: string[] = [];
    expect(await runAnalyze([join(dir, 'broken.yaml')], { out: (l) => broken.push(l) })).toBe(1);
    expect(broken.some((l) => l.includes('YAML'))).toBe(true);
  });

  it('warnings do not fail unless the failure threshold says so; the output threshold hides lower levels', async () => {
    await writeFile(
      join(dir, 'ap.yaml'),
      `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ap, namespace: shop }
spec: { selector: { matchLabels: { app: nobody } } }
`,
    );
    const lines: string[] = [];
    expect(await runAnalyze([dir], { out: (l) => lines.push(l) })).toBe(0);
    expect(lines).toEqual([expect.stringMatching(/^Warning \[IST0127\] \(AuthorizationPolicy shop\/ap /)]);
    expect(await runAnalyze([dir], { out: () => {}, failureThreshold: 'Warning' })).toBe(EXIT_ISSUES_FOUND);
    const quiet: string[] = [];
    expect(await runAnalyze([dir], { out: (l) => quiet.push(l), outputThreshold: 'Error' })).toBe(0);
    expect(quiet[0]).toMatch(/No validation issues/);
  });

  it('-o json and -o yaml print the records istioctl prints', async () => {
    const file = join(dir, 'vs.yaml');
    await writeFile(file, BAD_VS);
    const json: string[] = [];
    await runAnalyze([dir], { out: (l) => json.push(l), output: 'json' });
    const records = JSON.parse(json.join('\n')) as Record<string, unknown>[];
    expect(records).toEqual([
      {
        code: 'IST0106',
        level: 'Error',
        origin: 'VirtualService shop/reviews',
        reference: `${file}:1`,
        field: 'spec.http[0].route[1].weight',
        documentationUrl: 'https://istio.io/latest/docs/reference/config/analysis/ist0106/?ref=ambitctl',
        message: 'Schema validation error: spec.http[0].route[1].weight: weight -10 must be a non-negative integer',
      },
    ]);
    const yaml: string[] = [];
    await runAnalyze([dir], { out: (l) => yaml.push(l), output: 'yaml' });
    expect(parse(yaml.join('\n'))).toEqual(records);
  });

  it('reports references to hosts and gateways that do not exist', async () => {
    await writeFile(
      join(dir, 'vs.yaml'),
      `apiVersion: networking.istio.io/v1
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
`,
    );
    const report = await analyzePaths([dir]);
    expect(report.messages.map((m) => `${m.type.code} ${m.field}: ${m.text}`)).toEqual([
      'IST0101 spec.gateways[0]: Referenced gateway not found: "ingress"',
      'IST0101 spec.http[0].route[0].destination.host: Referenced host not found: "missing"',
    ]);
  });

  it('reports a missing path', async () => {
    const report = await analyzePaths([join(dir, 'nope')]);
    expect(report.problems).toEqual([`${join(dir, 'nope')}: no such file or directory`]);
  });

  it('runs as a commander subcommand and sets the exit code', async () => {
    await writeFile(join(dir, 'vs.yaml'), BAD_VS);
    const logged: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((l: unknown) => {
      logged.push(String(l));
    });
    const program = new Command('ambitctl').exitOverride();
    register(program);
    await program.parseAsync(['node', 'ambitctl', 'analyze', '-f', join(dir, 'vs.yaml'), '-o', 'json']);
    expect(process.exitCode).toBe(EXIT_ISSUES_FOUND);
    expect((JSON.parse(logged.join('\n')) as { code: string }[]).map((r) => r.code)).toEqual(['IST0106']);

    logged.length = 0;
    const ok = new Command('ambitctl').exitOverride();
    register(ok);
    await ok.parseAsync(['node', 'ambitctl', 'analyze', '-f', join(TESTDATA, 'coffee-shop')]);
    expect(process.exitCode).toBe(0);
    expect(logged[0]).toMatch(/No validation issues found/);
  });
});
