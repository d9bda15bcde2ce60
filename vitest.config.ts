import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{core,agent,waypoint,cni,controller,ctl,test,bench}/**/*.test.ts'],
    exclude: ['dist/**', 'node_modules/**'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // netns tests share host-level names (bridge, iptables); files run one at a time per worker
    fileParallelism: true,
    maxWorkers: 2,
  },
});
