import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { hostsFileFor, planLocal } from './plan.js';
import { ipv4Cidr } from './cidr.js';

const COFFEE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'coffee-shop');

describe('local plan', () => {
  it('expands the coffee-shop Deployments into pods with IPs, identities and pinned VIPs', async () => {
    const plan = await planLocal(COFFEE, { podCidr: '10.233.9.0/24', nodeName: 'n1' });
    expect(plan.problems).toEqual([]);
    const names = plan.pods.map((p) => p.name);
    expect(names).toEqual([...names].sort());
    expect(names).toContain('payment-service-0');
    expect(names).toContain('customer-service-v2-0');
    const ips = plan.pods.map((p) => p.ip);
    expect(new Set(ips).size).toBe(ips.length);
    for (const ip of ips) expect(ip).toMatch(/^10\.233\.9\.(\d+)$/);
    expect(ips).not.toContain('10.233.9.1'); // the bridge
    const order = plan.pods.find((p) => p.name === 'order-service-0')!;
    expect(order.enrolled).toBe(true);
    expect(order.identity).toBe('spiffe://cluster.local/ns/coffee-shop/sa/order-service');
    expect(order.container?.command).toEqual(['node', 'service.mjs']);
    expect(order.container?.env.CALLS).toContain('payment-service');

    // the controller's folder: no Deployments, a Pod per replica with its IP and node, VIPs pinned
    const pods = parseAllDocuments(plan.files.get('zz-local-pods.yaml')!).map(
      (d) =>
        d.toJSON() as {
          kind: string;
          metadata: { name: string };
          spec: { nodeName: string };
          status: { podIP: string };
        },
    );
    expect(pods.map((p) => p.metadata.name)).toEqual(names);
    expect(pods[0]!.spec.nodeName).toBe('n1');
    expect(pods.find((p) => p.metadata.name === 'order-service-0')!.status.podIP).toBe(order.ip);
    const services = parseAllDocuments(plan.files.get('services.yaml')!).map(
      (d) => d.toJSON() as { kind: string; metadata: { name: string }; spec: { clusterIP?: string } },
    );
    expect(services.some((o) => o.kind === 'Deployment')).toBe(false);
    const payment = services.find((o) => o.kind === 'Service' && o.metadata.name === 'payment-service')!;
    const vip = plan.serviceVips.find((s) => s.name === 'payment-service')!.vips[0]!;
    expect(payment.spec.clusterIP).toBe(vip);
    expect(vip).toMatch(/^10\.96\./);

    // the example's waypoint Gateway becomes a pod the mesh does not capture, with the Gateway's identity
    const wp = plan.pods.find((p) => p.waypoint && !p.gateway)!;
    expect(wp).toMatchObject({
      namespace: 'coffee-shop',
      name: 'waypoint-waypoint',
      serviceAccount: 'waypoint',
      enrolled: false,
      waypoint: { gateway: 'waypoint' },
      container: undefined,
    });
    expect(wp.labels).toEqual({ 'gateway.networking.k8s.io/gateway-name': 'waypoint', 'mesh-mode': 'none' });
    expect(wp.identity).toBe('spiffe://cluster.local/ns/coffee-shop/sa/waypoint');
    expect(pods.find((p) => p.metadata.name === 'waypoint-waypoint')!.status.podIP).toBe(wp.ip);
    expect(plan.snapshot.workloads.find((w) => w.name === 'order-service-0')?.waypoint).toMatchObject({
      address: wp.ip,
      identity: wp.identity,
    });

    const hosts = hostsFileFor(plan, order);
    expect(hosts).toMatch(
      new RegExp(
        `^${vip.replace(/\./g, '\\.')}\\tpayment-service\\.coffee-shop\\.svc\\.cluster\\.local .*payment-service$`,
        'm',
      ),
    );
  });

  it('honours status.podIP, refuses duplicates and commands that are missing', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ambit-plan-'));
    try {
      const pod = (name: string, extra = '') =>
        `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: a }\nspec: { containers: [{ name: c, command: [sleep, "9"] }] }\n${extra}`;
      await writeFile(path.join(dir, 'p.yaml'), `${pod('x', 'status: { podIP: 10.1.0.2 }\n')}---\n${pod('y')}`);
      const plan = await planLocal(dir, { podCidr: '10.1.0.0/24' });
      expect(plan.pods.map((p) => [p.name, p.ip, p.enrolled])).toEqual([
        ['x', '10.1.0.2', false],
        ['y', '10.1.0.3', false],
      ]);
      await writeFile(path.join(dir, 'q.yaml'), pod('x'));
      await expect(planLocal(dir, { podCidr: '10.1.0.0/24' })).rejects.toThrow(/Pod\/a\/x: defined twice/);
      await writeFile(
        path.join(dir, 'q.yaml'),
        'apiVersion: v1\nkind: Pod\nmetadata: { name: z, namespace: a }\nspec: { containers: [{ name: c, image: nginx }] }\n',
      );
      await expect(planLocal(dir, { podCidr: '10.1.0.0/24' })).rejects.toThrow(
        /Pod\/a\/z: spec.containers\[0\].command: empty/,
      );
      await writeFile(path.join(dir, 'q.yaml'), pod('w', 'status: { podIP: 10.9.0.2 }\n'));
      await expect(planLocal(dir, { podCidr: '10.1.0.0/24' })).rejects.toThrow(
        /status.podIP: 10.9.0.2 is not in the pod CIDR 10.1.0.0\/24/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(() => ipv4Cidr('10.1.0.0')).toThrow(/pod CIDR/);
  });

  it('plans a waypoint pod per ambit-waypoint Gateway, with the service-account annotation', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ambit-plan-'));
    try {
      const gw = (name: string, cls: string, extra = '') =>
        `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: ${name}, namespace: shop${extra} }\nspec: { gatewayClassName: ${cls}, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }\n`;
      await writeFile(
        path.join(dir, 'g.yaml'),
        [
          gw('wp', 'ambit-waypoint', ', annotations: { gateway.istio.io/service-account: wp-sa }'),
          gw('edge', 'istio'),
        ].join('---\n'),
      );
      const plan = await planLocal(dir, { podCidr: '10.1.0.0/24' });
      expect(plan.pods.map((p) => [p.name, p.serviceAccount, p.waypoint?.gateway])).toEqual([
        ['wp-waypoint', 'wp-sa', 'wp'],
      ]);
      expect(plan.pods[0]!.identity).toBe('spiffe://cluster.local/ns/shop/sa/wp-sa');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(parse('a: 1')).toEqual({ a: 1 });
  });

  it('plans waypoint replicas behind one address (the Gateway status tells the controller), and refuses a bad count', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ambit-plan-'));
    try {
      const gw = (replicas: string) =>
        `apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: { name: wp, namespace: shop, annotations: { ambit.dev/waypoint-replicas: "${replicas}" } }\nspec: { gatewayClassName: ambit-waypoint, listeners: [{ name: mesh, port: 15008, protocol: HBONE }] }\n`;
      const ns =
        'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop, labels: { mesh-mode: ambient, mesh-waypoint: wp } }\n';
      await writeFile(path.join(dir, 'g.yaml'), [ns, gw('2')].join('---\n'));
      const plan = await planLocal(dir, { podCidr: '10.1.0.0/24' });
      expect(plan.pods.map((p) => [p.name, p.waypoint])).toEqual([
        ['wp-waypoint', { gateway: 'wp', replica: 0 }],
        ['wp-waypoint-1', { gateway: 'wp', replica: 1 }],
      ]);
      expect(plan.waypointAddresses).toHaveLength(1);
      const shared = plan.waypointAddresses[0]!;
      expect(plan.pods.map((p) => p.ip)).not.toContain(shared.address);
      const written = parse(plan.files.get('g.yaml')!.split('---\n')[1]!) as {
        status: { addresses: Array<{ value: string }> };
      };
      expect(written.status.addresses).toEqual([{ type: 'IPAddress', value: shared.address }]);
      await writeFile(path.join(dir, 'g.yaml'), gw('0'));
      await expect(planLocal(dir, { podCidr: '10.1.0.0/24' })).rejects.toThrow(
        /ambit.dev\/waypoint-replicas: "0" is not a whole number from 1 to 10/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
