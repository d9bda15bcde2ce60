// Unit checks of the bench's own pieces (the measurements themselves run in run.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { haproxyConfigs } from './haproxy.js';
import { parseStraceSummary } from '../common/strace.js';

describe('haproxy peer configuration', () => {
  const pem = { client: '/x/client.pem', server: '/x/server.pem', ca: '/x/ca.pem' };
  const cfg = haproxyConfigs(pem, [{ name: 'bulk', targetPort: 5201, inPort: 10001, tlsPort: 10002 }]);

  it('is the best measured configuration of CONTRACT.md, on both sides', () => {
    for (const side of [cfg.client, cfg.server]) {
      expect(side).toMatch(/^\s*mode tcp$/m);
      expect(side).toMatch(/^\s*tune\.bufsize 65536$/m);
      expect(side).toMatch(/ciphersuites TLS_AES_128_GCM_SHA256$/m);
      expect(side).toMatch(/ssl-min-ver TLSv1\.3$/m);
      expect(side).toMatch(/^\s*nbthread 1$/m);
    }
    // client certificate presented and server verified; client certificate required on the server
    expect(cfg.client).toContain('server peer 127.0.0.1:10002 ssl crt /x/client.pem ca-file /x/ca.pem verify required');
    expect(cfg.server).toContain('bind 127.0.0.1:10002 ssl crt /x/server.pem ca-file /x/ca.pem verify required');
    expect(cfg.server).toContain('server target 127.0.0.1:5201');
  });

  it('is accepted by haproxy -c', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ambit-bench-cfg-'));
    try {
      // haproxy -c loads the certificates, so check a copy without TLS file references.
      const plain = cfg.server.replace(/ ssl crt .*verify required/, '');
      writeFileSync(join(dir, 'h.cfg'), plain);
      expect(() => execFileSync('haproxy', ['-c', '-f', join(dir, 'h.cfg')], { stdio: 'pipe' })).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('strace -c summary', () => {
  it('reads calls per syscall, busiest first, without the total line', () => {
    const text = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 45.10    0.120000          10     12000           write
 30.00    0.080000           5     16000       120 epoll_ctl
 20.00    0.050000           4     12500           read
------ ----------- ----------- --------- --------- ----------------
100.00    0.250000                 40500       120 total
`;
    expect(parseStraceSummary(text)).toEqual([
      { name: 'epoll_ctl', calls: 16000, seconds: 0.08 },
      { name: 'read', calls: 12500, seconds: 0.05 },
      { name: 'write', calls: 12000, seconds: 0.12 },
    ]);
  });
});
