// The waypoint loads only what its mode and its config use: the built binary
// (dist/waypoint/main.js, as the image runs it) in file mode with a JSON config must not load
// gRPC and the protobuf schemas or the xDS client (controller mode only), YAML (a config that is
// not JSON), jose (only once a config has a JWT rule), the gateway's code (the gateway modes),
// controller or agent code. Each costs RSS in every waypoint; test/support/module-load.ts lists
// every module the process loads.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestAuthentication } from '../core/model/l7.js';
import { HEAVY_MODULES, modulesLoadedBy } from '../test/support/module-load.js';
import { REPO_ROOT } from '../test/support/repo.js';
import { to, waypointConfig } from '../test/support/waypoint-harness.js';

const MAIN = path.join(REPO_ROOT, 'dist', 'waypoint', 'main.js');

const { grpc, protobufjs, yaml, jose, controller, xdsClient } = HEAVY_MODULES;
const NEVER: ReadonlyArray<readonly [string, RegExp]> = [
  grpc,
  protobufjs,
  yaml,
  controller,
  ['agent code', /\/dist\/agent\//],
  xdsClient,
];
const GATEWAY: readonly [string, RegExp] = ['the gateway', /\/dist\/waypoint\/gateway\//];

function jwtPolicy(): RequestAuthentication {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  return {
    key: 'coffee-shop/jwt',
    name: 'jwt',
    scope: { namespace: 'coffee-shop', level: 'namespace' },
    jwtRules: [{ issuer: 'https://issuer.example', jwks: JSON.stringify({ keys: [jwk] }) }],
  };
}

/** The modules of the built waypoint started in file mode with this config file (JSON). */
async function modulesOf(dir: string, mode: string, file: string, config: unknown): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, file), JSON.stringify(config));
  return modulesLoadedBy({
    main: MAIN,
    args: ['--mode', mode],
    dir,
    env: {
      POD_NAMESPACE: 'coffee-shop',
      SERVICE_ACCOUNT: 'waypoint',
      [mode === 'waypoint' ? 'AMBIT_WAYPOINT_CONFIG_FILE' : 'AMBIT_GATEWAY_CONFIG_FILE']: path.join(dir, file),
      AMBIT_STATE_DIR: path.join(dir, 'state'),
      AMBIT_GATEWAY_CREDENTIAL_DIR: path.join(dir, 'credentials'),
      AMBIT_HBONE_PORT: '0',
      AMBIT_HBONE_HOST: '127.0.0.1',
      AMBIT_ADMIN_PORT: '0',
      AMBIT_METRICS_PORT: '0',
      AMBIT_READY_PORT: '0',
      AMBIT_LOG_LEVEL: 'error',
    },
  });
}

describe('waypoint module loading (file mode)', () => {
  let dir = '';
  let plain: string[] = [];
  let withJwt: string[] = [];
  let gateway: string[] = [];
  const routes = [{ source: 'coffee-shop/a', name: 'a', matches: [], destinations: [to(undefined)] }];

  beforeAll(async () => {
    if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (npm run build)`);
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-waypoint-modules-'));
    [plain, withJwt, gateway] = await Promise.all([
      modulesOf(path.join(dir, 'plain'), 'waypoint', 'waypoint.json', waypointConfig(routes, [])),
      modulesOf(
        path.join(dir, 'jwt'),
        'waypoint',
        'waypoint.json',
        waypointConfig(routes, [], { requestAuthentications: [jwtPolicy()] }),
      ),
      modulesOf(path.join(dir, 'gateway'), 'ingress-gateway', 'gateway.json', { gateways: [] }),
    ]);
  }, 90_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the hook saw the waypoint load its own modules (the list is real)', () => {
    for (const loaded of [plain, withJwt, gateway]) {
      expect(loaded.some((u) => u.endsWith('/dist/waypoint/server.js'))).toBe(true);
      expect(loaded.some((u) => u.endsWith('/dist/core/hbone/server.js'))).toBe(true);
    }
  });

  it.each([...NEVER, jose, GATEWAY])('a waypoint without JWT rules does not load %s', (_what, pattern) => {
    expect(plain.filter((u) => pattern.test(u))).toEqual([]);
  });

  it('a waypoint with a JWT rule loads jose (when its config is built)', () => {
    expect(withJwt.some((u) => jose[1].test(u))).toBe(true);
  });

  it.each([...NEVER, GATEWAY])('a waypoint with a JWT rule does not load %s', (_what, pattern) => {
    expect(withJwt.filter((u) => pattern.test(u))).toEqual([]);
  });

  it.each([...NEVER, jose])('a gateway does not load %s', (_what, pattern) => {
    expect(gateway.filter((u) => pattern.test(u))).toEqual([]);
  });

  it('a gateway loads its own modules', () => {
    expect(gateway.some((u) => GATEWAY[1].test(u))).toBe(true);
  });
});
