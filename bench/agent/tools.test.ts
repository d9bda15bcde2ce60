import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nginxConfig } from './tools.js';

const hasNginx = ((): boolean => {
  try {
    execFileSync('nginx', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('bench/agent nginx config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ambt-bench-nginx-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is the peer configuration of CONTRACT.md: one worker, no access log, no keep-alive request cap', () => {
    const text = readFileSync(nginxConfig(dir), 'utf8');
    expect(text).toMatch(/^worker_processes 1;/m);
    expect(text).toMatch(/access_log off;/);
    expect(text).toMatch(/keepalive_requests 1000000;/);
  });

  it.skipIf(!hasNginx)('passes nginx -t', () => {
    const out = execFileSync('nginx', ['-t', '-c', nginxConfig(dir)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out).toBe('');
  });
});
