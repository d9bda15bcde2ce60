import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeTokenFileAuthenticator, parseNodeTokens } from './auth.js';
import { findCaProto } from '../../core/identity/ca-proto.js';

const T1 = 'aaaaaaaaaaaaaaaaaaaa';
const T2 = 'bbbbbbbbbbbbbbbbbbbb';

describe('node token file', () => {
  it('reads lines and JSON, mapping to agents (node) or waypoints (SPIFFE id)', () => {
    const lines = parseNodeTokens(
      `# comment\n${T1} node-a\n\n${T2}   spiffe://cluster.local/ns/default/sa/waypoint  # inline\n`,
    );
    expect([...lines.values()]).toEqual([
      { kind: 'agent', node: 'node-a' },
      { kind: 'waypoint', identity: 'spiffe://cluster.local/ns/default/sa/waypoint' },
    ]);
    const json = parseNodeTokens(JSON.stringify({ [T1]: 'node-b' }));
    expect([...json.values()]).toEqual([{ kind: 'agent', node: 'node-b' }]);
    expect([...json.keys()][0]).not.toContain(T1); // only digests are kept
  });

  it('names the file and line of a bad entry', () => {
    expect(() => parseNodeTokens(`${T1} node-a\njust-one-field\n`, 'tokens.txt')).toThrow(
      'tokens.txt:2: expected "<token> <node-name>"',
    );
    expect(() => parseNodeTokens('short node-a\n', 'tokens.txt')).toThrow(/line 1.*shorter than 16/);
    expect(() => parseNodeTokens(`${T1} spiffe://cluster.local/bad\n`, 'tokens.txt')).toThrow(/not a valid SPIFFE id/);
    expect(() => parseNodeTokens('{"a":', 'tokens.json')).toThrow(/tokens.json: not valid JSON/);
  });

  it('re-reads the file when it changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ambit-tokens-'));
    try {
      const file = join(dir, 'tokens');
      writeFileSync(file, `${T1} node-a\n`);
      const auth = nodeTokenFileAuthenticator(file);
      expect(await auth(T1, {})).toEqual({ kind: 'agent', node: 'node-a' });
      await expect(auth(T2, {})).rejects.toThrow('unknown token');
      writeFileSync(file, `${T1} node-a\n${T2} node-bb\n`);
      expect(await auth(T2, {})).toEqual({ kind: 'agent', node: 'node-bb' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('proto/ca.proto location', () => {
  it('is found from the sources and from dist/', () => {
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
    expect(findCaProto()).toBe(join(root, 'proto', 'ca.proto'));
    expect(findCaProto(join(root, 'dist', 'core', 'identity'))).toBe(join(root, 'proto', 'ca.proto'));
  });
});
