// ambitctl waypoint: the objects (Gateway API schema rules, Kubernetes Namespace schema, the
// controller's translator), the kubectl calls (a recording fake kubectl on PATH) and the
// local folder edits (the coffee-shop example, read back by the file source's reader).
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { readManifests } from '../controller/sources/file-read.js';
import { translate } from '../controller/translate/index.js';
import { validateAgainstKubernetes, type K8sObject } from '../test/support/manifests.js';
import { register } from './waypoint.js';
import { localGatewayFile } from './waypoint-local.js';
import { waypointGateway } from './waypoint-objects.js';

const EXAMPLE = join(import.meta.dirname, '..', 'examples', 'coffee-shop');

// The rules of the Gateway API v1 Gateway schema that our object exercises (required fields,
// listener count, name/port/protocol formats), from the Gateway API reference.
const gatewaySchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'gateway.networking.k8s.io/v1' },
    kind: { const: 'Gateway' },
    metadata: { type: 'object', required: ['name', 'namespace'] },
    spec: {
      type: 'object',
      required: ['gatewayClassName', 'listeners'],
      properties: {
        gatewayClassName: { type: 'string', minLength: 1, maxLength: 253 },
        listeners: {
          type: 'array',
          minItems: 1,
          maxItems: 64,
          items: {
            type: 'object',
            required: ['name', 'port', 'protocol'],
            properties: {
              name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 253 },
              port: { type: 'integer', minimum: 1, maximum: 65535 },
              protocol: {
                type: 'string',
                minLength: 1,
                maxLength: 255,
                pattern:
                  '^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\\/[A-Za-z0-9]+$',
              },
            },
          },
        },
      },
    },
  },
};

async function runCli(args: string[]): Promise<string> {
  const program = new Command('ambitctl').exitOverride();
  register(program);
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(['node', 'ambitctl', ...args]);
  } finally {
    spy.mockRestore();
  }
  return out;
}

describe('ambitctl waypoint', () => {
  let dir: string;
  const savedPath = process.env.PATH;
  const savedKubectl = process.env.AMBIT_KUBECTL;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-h10-waypoint-'));
  });
  afterEach(async () => {
    process.env.PATH = savedPath;
    if (savedKubectl === undefined) delete process.env.AMBIT_KUBECTL;
    else process.env.AMBIT_KUBECTL = savedKubectl;
    await rm(dir, { recursive: true, force: true });
  });

  it("the Gateway follows the Gateway API schema and the translator takes it as the namespace's waypoint", async () => {
    const gw = waypointGateway('coffee-shop', 'waypoint');
    const validate = new Ajv({ allErrors: true }).compile(gatewaySchema);
    expect(validate(gw), JSON.stringify(validate.errors)).toBe(true);
    expect(gw.spec).toEqual({
      gatewayClassName: 'ambit-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    });
    expect(validate({ ...gw, spec: { ...gw.spec, listeners: [] } })).toBe(false); // the schema check can fail
  });

  describe('in a cluster (fake kubectl on PATH)', () => {
    let log: string;
    beforeEach(async () => {
      log = join(dir, 'kubectl.log');
      const script = `#!/bin/sh
printf 'ARGS %s\\n' "$*" >> "${log}"
# runTool always writes stdin (possibly empty); read it so it never meets a closed pipe
[ "$1" = apply ] || cat > /dev/null
case "$1" in
  apply) cat >> "${log}"; echo "gateway.gateway.networking.k8s.io/waypoint created" ;;
  get)
    case "$2" in
      namespace) [ "$3" = nope ] && { echo 'Error from server (NotFound): namespaces "nope" not found' >&2; exit 1; }
                 echo '{"kind":"Namespace","metadata":{"name":"'"$3"'","labels":{"mesh-mode":"ambient","mesh-waypoint":"waypoint","istio.io/use-waypoint":"other"}}}' ;;
      namespaces) echo '{"items":[{"metadata":{"name":"shop","labels":{"mesh-waypoint":"waypoint"}}},{"metadata":{"name":"pay","labels":{"istio.io/use-waypoint":"waypoint","istio.io/use-waypoint-namespace":"shop"}}},{"metadata":{"name":"plain"}}]}' ;;
      gateways.gateway.networking.k8s.io) echo '{"items":[{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"name":"waypoint","namespace":"shop"},"spec":{"gatewayClassName":"ambit-waypoint"},"status":{"addresses":[{"type":"IPAddress","value":"10.96.0.9"}],"conditions":[{"type":"Programmed","status":"True"}]}},{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"name":"ingress","namespace":"shop"},"spec":{"gatewayClassName":"istio"}}]}' ;;
    esac ;;
  label) [ "$3" = nope ] && { echo 'Error from server (NotFound): namespaces "nope" not found' >&2; exit 1; }
         echo "namespace/$3 labeled" ;;
  *) echo "ok" ;;
esac
`;
      const bin = join(dir, 'bin');
      await mkdir(bin);
      await writeFile(join(bin, 'kubectl'), script);
      await chmod(join(bin, 'kubectl'), 0o755);
      delete process.env.AMBIT_KUBECTL;
      process.env.PATH = `${bin}:${savedPath ?? ''}`;
    });
    const calls = async (): Promise<string[]> =>
      (await readFile(log, 'utf8'))
        .split('\n')
        .filter((l) => l.startsWith('ARGS '))
        .map((l) => l.slice(5));

    it('apply: kubectl apply of the Gateway, then the namespace label', async () => {
      const out = await runCli(['waypoint', 'apply', '-n', 'shop']);
      expect(await calls()).toEqual(['apply -f -', 'label namespace shop mesh-waypoint=waypoint --overwrite']);
      const applied = parseAllDocuments(
        (await readFile(log, 'utf8'))
          .split('\n')
          .filter((l) => !l.startsWith('ARGS '))
          .join('\n'),
      ).map((d) => d.toJS() as K8sObject);
      expect(applied).toEqual([waypointGateway('shop', 'waypoint')]);
      expect(out).toContain('namespace shop labelled mesh-waypoint=waypoint');
    });

    it('delete: removes only the labels that point at this waypoint, then the Gateway', async () => {
      await runCli(['waypoint', 'delete', '-n', 'shop', '--name', 'waypoint']);
      expect(await calls()).toEqual([
        'get namespace shop -o json',
        'label namespace shop mesh-waypoint-',
        'delete gateways.gateway.networking.k8s.io waypoint -n shop --ignore-not-found',
      ]);
    });

    it('list: waypoint Gateways with the namespaces that use them', async () => {
      const table = await runCli(['waypoint', 'list']);
      expect(await calls()).toEqual(['get gateways.gateway.networking.k8s.io -A -o json', 'get namespaces -o json']);
      const lines = table.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[1]!.split(/\s+/)).toEqual(['shop', 'waypoint', 'pay,shop', '10.96.0.9', 'True']);
      const json = JSON.parse(await runCli(['waypoint', 'list', '-n', 'shop', '-o', 'json'])) as unknown[];
      expect(json).toEqual([
        { namespace: 'shop', name: 'waypoint', usedBy: ['pay', 'shop'], address: '10.96.0.9', programmed: 'True' },
      ]);
    });

    it('kubectl errors and bad names reach the user', async () => {
      await expect(runCli(['waypoint', 'delete', '-n', 'nope'])).rejects.toThrow(/namespaces "nope" not found/);
      await expect(runCli(['waypoint', 'apply', '-n', 'Shop'])).rejects.toThrow(
        /--namespace "Shop" is not a valid name/,
      );
      await expect(runCli(['waypoint', 'apply'])).rejects.toThrow(/-n\/--namespace is required/);
    });
  });

  describe('--local DIR', () => {
    it("labels the folder's Namespace in place, adds the Gateway file, and delete restores the folder", async () => {
      const mesh = join(dir, 'mesh');
      await cp(EXAMPLE, mesh, { recursive: true });
      await runCli(['waypoint', 'delete', '-n', 'coffee-shop', '--local', mesh]); // the example ships with its waypoint
      const nsFile = join(mesh, 'namespace.yaml');
      const original = await readFile(nsFile, 'utf8');
      const before = translate((await readManifests(mesh)).documents.map((d) => d.object));
      expect(before.waypoints.size).toBe(0);

      const out = await runCli(['waypoint', 'apply', '-n', 'coffee-shop', '--local', mesh]);
      expect(out).toContain(localGatewayFile(mesh, 'coffee-shop', 'waypoint'));
      const edited = await readFile(nsFile, 'utf8');
      expect(edited).toContain('# The coffee-shop: every pod of this namespace is in the ambient mesh.');
      const { documents, problems } = await readManifests(mesh);
      expect(problems).toEqual([]);
      const ns = documents.map((d) => d.object).find((o) => o.kind === 'Namespace')!;
      expect(ns.metadata.labels).toEqual({ 'mesh-mode': 'ambient', 'mesh-waypoint': 'waypoint' });
      await validateAgainstKubernetes(ns as unknown as K8sObject);
      const after = translate(documents.map((d) => d.object));
      expect(after.rejected.filter((r) => /waypoint/i.test(r.reason))).toEqual([]);
      expect([...after.waypoints.keys()]).toEqual(['coffee-shop']);

      // idempotent
      await runCli(['waypoint', 'apply', '-n', 'coffee-shop', '--local', mesh]);
      expect(await readFile(nsFile, 'utf8')).toBe(edited);
      expect((await runCli(['waypoint', 'list', '--local', mesh])).split('\n')[1]!.split(/\s+/).slice(0, 3)).toEqual([
        'coffee-shop',
        'waypoint',
        'coffee-shop',
      ]);

      await runCli(['waypoint', 'delete', '-n', 'coffee-shop', '--local', mesh]);
      expect(await readFile(nsFile, 'utf8')).toBe(original);
      await expect(readFile(localGatewayFile(mesh, 'coffee-shop', 'waypoint'))).rejects.toThrow(/ENOENT/);
    });

    it('writes the Namespace beside the Gateway when the folder has none', async () => {
      const mesh = join(dir, 'empty');
      await cp(join(EXAMPLE, 'services.yaml'), join(mesh, 'services.yaml'), { recursive: true });
      await runCli(['waypoint', 'apply', '-n', 'pay', '--name', 'wp', '--local', mesh]);
      const objs = parseAllDocuments(await readFile(localGatewayFile(mesh, 'pay', 'wp'), 'utf8')).map(
        (d) => d.toJS() as K8sObject,
      );
      expect(objs.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Namespace/pay', 'Gateway/wp']);
      expect(objs[0]).toMatchObject({ metadata: { labels: { 'mesh-waypoint': 'wp' } } });
      await validateAgainstKubernetes(objs[0]!);
      expect(await runCli(['waypoint', 'delete', '-n', 'pay', '--name', 'wp', '--local', mesh])).toContain('removed');
      expect((await readManifests(mesh)).documents.some((d) => d.object.kind === 'Gateway')).toBe(false);
    });
  });
});
