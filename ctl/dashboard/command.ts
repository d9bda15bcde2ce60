// `ambitctl dashboard [--port 20001] [--prometheus URL] [--state-dir D]`: the live service
// graph on 127.0.0.1; prints its URL and runs until interrupted.
import type { Command } from 'commander';
import { DEFAULT_STATE_DIR } from '../local/state.js';
import { DEFAULT_PORT, startDashboard } from './server.js';

export function register(program: Command): void {
  program
    .command('dashboard')
    .description('serve the live service graph on 127.0.0.1 and print its URL')
    .option('--port <n>', 'port on 127.0.0.1 (0: any free port)', String(DEFAULT_PORT))
    .option('--prometheus <url>', 'read the metrics from this Prometheus instead of scraping the local mesh')
    .option(
      '--state-dir <dir>',
      "the local mesh's state dir (its record names the components' ports)",
      process.env.AMBIT_LOCAL_STATE_DIR ?? DEFAULT_STATE_DIR,
    )
    .option('--interval <ms>', 'scrape / refresh interval', '2000')
    .action(async (o: { port: string; prometheus?: string; stateDir: string; interval: string }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new Error(`--port: "${o.port}" is not a port number`);
      const intervalMs = Number(o.interval);
      if (!(intervalMs >= 200 && intervalMs <= 60_000))
        throw new Error(`--interval: "${o.interval}" must be 200..60000 ms`);
      if (o.prometheus && !/^https?:\/\//.test(o.prometheus))
        throw new Error(`--prometheus: "${o.prometheus}" is not an http(s) URL`);
      const dashboard = await startDashboard({
        port,
        stateDir: o.stateDir,
        intervalMs,
        ...(o.prometheus ? { prometheus: o.prometheus } : {}),
      });
      console.log(dashboard.url);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await dashboard.close();
    });
}
