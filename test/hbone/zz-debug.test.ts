import { it } from 'vitest';
import net from 'node:net';
import { HbonePool } from '../../core/hbone/index.js';
import { pki, startForwarder, startSourceAgent, startTcp, target } from './fixtures.js';

const N = 256 * 1024 * 1024;
async function blast(port: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const chunk = Buffer.alloc(256 * 1024, 7);
  let sent = 0;
  while (sent < N) { sent += chunk.length; if (!s.write(chunk)) await new Promise((r) => s.once('drain', r)); }
  s.end();
  await new Promise((r) => s.once('close', r));
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
it('speed', async () => {
  const p = await pki();
  const fwd = await startForwarder(() => p.server);
  const sink = await startTcp((s) => { s.resume(); s.on('end', () => s.end()); });
  console.log('direct ms', await blast(sink.port));
  const pool = new HbonePool();
  const agent = await startSourceAgent(pool, p.client, target(fwd.port, sink.port, p.server.identity));
  console.log('hbone ms', await blast(agent.port));
  console.log('hbone ms', await blast(agent.port));
  const cpu = process.cpuUsage(); console.log('cpu', cpu.user / 1e3, cpu.system / 1e3);
  pool.destroy(); await fwd.close(true);
}, 120000);
