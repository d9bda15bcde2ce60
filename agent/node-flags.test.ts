// The agent's image starts it with the V8 flags its other launchers use (agent/node-flags.ts):
// what the chart deploys runs as the benches measured it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../test/support/repo.js';
import { AGENT_NODE_FLAGS } from './node-flags.js';

describe('agent node flags', () => {
  it('the image ENTRYPOINT runs node with AGENT_NODE_FLAGS before the agent', () => {
    const dockerfile = readFileSync(path.join(REPO_ROOT, 'deploy', 'docker', 'agent.Dockerfile'), 'utf8');
    const entrypoints = dockerfile.split('\n').filter((l) => l.startsWith('ENTRYPOINT'));
    expect(entrypoints).toHaveLength(1);
    const argv = JSON.parse(entrypoints[0]!.slice('ENTRYPOINT'.length)) as string[];
    expect(argv).toEqual(['node', ...AGENT_NODE_FLAGS, 'dist/agent/main.js']);
  });

  it('every flag is one node accepts (in NODE_OPTIONS too, so it is a V8 option node knows)', () => {
    for (const flag of AGENT_NODE_FLAGS) {
      expect(process.allowedNodeEnvironmentFlags.has(flag.split('=')[0]!), flag).toBe(true);
    }
  });
});
