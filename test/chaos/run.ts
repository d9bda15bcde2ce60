// `npm run chaos`: the full chaos suite (test/support/chaos-mesh.ts) on `ambitctl local up`, then a
// table event × failed requests. Needs root and a build (npm run build). Options:
//   --mode short|full (default full)   --events "config churn,agent restart" (default all)
//   --out FILE (the results as JSON)
// Its own bridge, pod CIDR, netns prefix and node ports; run it alone on a shared machine
// (flock /tmp/ambit-netns.lock npm run chaos).
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ChaosMesh, formatTable, runEvents, type Mode } from '../support/chaos-mesh.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { mode: { type: 'string', default: 'full' }, events: { type: 'string' }, out: { type: 'string' } },
  });
  const mode = values.mode as Mode;
  if (mode !== 'short' && mode !== 'full') throw new Error(`--mode: "${values.mode}" is not short or full`);
  const mesh = new ChaosMesh({
    mode,
    bridge: 'ambt-chaos0',
    cidr: '10.239.57.0/24',
    prefix: 'ambt-chx-',
    portOffset: 1200,
    log: (l) => console.error(l),
  });
  const stop = () => {
    void mesh.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    console.error(`chaos (${mode}): starting the coffee-shop on local up …`);
    await mesh.start();
    const results = await runEvents(
      mesh,
      values.events?.split(',').map((e) => e.trim()),
    );
    console.log(formatTable(results));
    if (values.out)
      await writeFile(values.out, `${JSON.stringify({ mode, settings: mesh.settings, results }, null, 2)}\n`);
    return results.every((r) => r.met) ? 0 : 1;
  } finally {
    await mesh.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
