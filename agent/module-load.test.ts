// The agent loads only what it uses: started in file mode (the built binary, dist/agent/main.js,
// as the image runs it), it must not load gRPC and the protobuf schemas (controller mode only),
// YAML (only for a snapshot file that is not JSON), jose, or any controller code (translation).
// Each would cost the agent megabytes of RSS on every node. test/support/module-load.ts lists
// every module the process loads.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEAVY_MODULES, modulesLoadedBy } from '../test/support/module-load.js';
import { REPO_ROOT } from '../test/support/repo.js';

const { grpc, protobufjs, yaml, jose, controller, xdsClient } = HEAVY_MODULES;
const FORBIDDEN = [grpc, protobufjs, yaml, jose, controller, xdsClient];

describe('agent module loading (file mode)', () => {
  let dir = '';
  let loaded: string[] = [];

  beforeAll(async () => {
    const main = path.join(REPO_ROOT, 'dist', 'agent', 'main.js');
    if (!existsSync(main)) throw new Error(`${main} is missing: build first (npm run build)`);
    dir = await mkdtemp(path.join(tmpdir(), 'ambit-agent-modules-'));
    const snapshot = path.join(dir, 'mesh.json');
    await writeFile(snapshot, JSON.stringify({ version: 'v1', workloads: [], services: [] }));
    loaded = await modulesLoadedBy({
      main,
      dir,
      env: {
        AMBIT_CONFIG_FILE: snapshot,
        AMBIT_STATE_DIR: path.join(dir, 'state'),
        AMBIT_AGENT_SOCKET: path.join(dir, 'agent.sock'),
        AMBIT_NODE_NAME: 'module-load',
        AMBIT_ADMIN_PORT: '0',
        AMBIT_METRICS_PORT: '0',
        AMBIT_READY_PORT: '0',
        AMBIT_SOCKS5_PORT: '0',
        AMBIT_LOG_LEVEL: 'error',
        AMBIT_NATIVE_ADDON: path.join(REPO_ROOT, 'agent', 'native', 'build', 'Release', 'ambit_netns.node'),
      },
    });
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the hook saw the agent load its own modules (the list is real)', () => {
    expect(loaded.some((u) => u.endsWith('/dist/agent/agent.js'))).toBe(true);
    expect(loaded.some((u) => u.endsWith('/dist/core/hbone/server.js'))).toBe(true);
  });

  it.each(FORBIDDEN)('does not load %s', (_what, pattern) => {
    expect(loaded.filter((u) => pattern.test(u))).toEqual([]);
  });
});
