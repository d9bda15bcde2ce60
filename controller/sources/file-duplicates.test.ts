// One object (kind/namespace/name) defined by two files of the watched folder: the source
// serves the definition changed last (as a later `kubectl apply` replaces an earlier one),
// never drops the object while one file still defines it, and logs which files define it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogFields, Logger } from '../../core/log.js';
import { FileSource } from './file.js';
import type { SourceEvent } from './types.js';

const rule = (mode: string): string => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: external-api, namespace: coffee-shop }
spec:
  host: api.external.example
  trafficPolicy: { tls: { mode: ${mode} } }
`;

function recordingLogger(warnings: Array<{ msg: string; fields?: LogFields }>): Logger {
  const log: Logger = {
    debug: () => {},
    info: () => {},
    error: () => {},
    warn: (msg, fields) => void warnings.push({ msg, ...(fields ? { fields } : {}) }),
    child: () => log,
  };
  return log;
}

/** `TYPE mode@file` of each object event. */
function summary(e: SourceEvent): string {
  if (e.type === 'SYNCED' || e.type === 'ERROR') return e.type;
  const spec = e.object.spec as { trafficPolicy: { tls: { mode: string } } };
  return `${e.type} ${spec.trafficPolicy.tls.mode}@${e.origin?.file?.split('/').pop()}`;
}

describe('FileSource: one object in two files', () => {
  let dir: string;
  let source: FileSource;
  const events: SourceEvent[] = [];
  const warnings: Array<{ msg: string; fields?: LogFields }> = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ambit-file-dup-'));
    events.length = 0;
    warnings.length = 0;
    source = new FileSource({ path: dir, log: recordingLogger(warnings) });
  });
  afterEach(async () => {
    await source.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the definition changed last, and keeps the object while it moves between files', async () => {
    await writeFile(join(dir, 'a-egress.yaml'), rule('SIMPLE'));
    await source.start((e) => events.push(e));
    expect(events.map(summary)).toEqual(['ADDED SIMPLE@a-egress.yaml', 'SYNCED']);

    // `local apply -f z-mutual.yaml`: the new file first, then the old copy goes.
    events.length = 0;
    await writeFile(join(dir, 'z-mutual.yaml'), rule('MUTUAL'));
    await source.refresh();
    expect(events.map(summary)).toEqual(['MODIFIED MUTUAL@z-mutual.yaml']);
    await rm(join(dir, 'a-egress.yaml'));
    await source.refresh();
    expect(events.map(summary)).toEqual(['MODIFIED MUTUAL@z-mutual.yaml']);

    // And back into the first file (which sorts first): its new definition wins at once, and
    // removing the other file's copy deletes nothing.
    events.length = 0;
    await writeFile(join(dir, 'a-egress.yaml'), rule('SIMPLE'));
    await source.refresh();
    expect(events.map(summary)).toEqual(['MODIFIED SIMPLE@a-egress.yaml']);
    await rm(join(dir, 'z-mutual.yaml'));
    await source.refresh();
    expect(events.map(summary)).toEqual(['MODIFIED SIMPLE@a-egress.yaml']);
  });

  it('the same text moved to another file is a change of origin', async () => {
    await writeFile(join(dir, 'a.yaml'), rule('SIMPLE'));
    await source.start((e) => events.push(e));
    events.length = 0;
    await writeFile(join(dir, 'b.yaml'), rule('SIMPLE'));
    await rm(join(dir, 'a.yaml'));
    await source.refresh();
    expect(events.map(summary)).toEqual(['MODIFIED SIMPLE@b.yaml']);
  });

  it('an unchanged file keeps losing to the file edited after it', async () => {
    await writeFile(join(dir, 'a.yaml'), rule('SIMPLE'));
    await source.start((e) => events.push(e));
    await writeFile(join(dir, 'b.yaml'), rule('MUTUAL'));
    await source.refresh();
    events.length = 0;
    // Rewriting a.yaml with the same text is no change of its definition: b.yaml still wins.
    await writeFile(join(dir, 'a.yaml'), rule('SIMPLE'));
    await source.refresh();
    expect(events).toEqual([]);
    await writeFile(join(dir, 'a.yaml'), rule('ISTIO_MUTUAL'));
    await source.refresh();
    expect(events.map(summary)).toEqual(['MODIFIED ISTIO_MUTUAL@a.yaml']);
  });

  it('files read together: the first path in sorted order wins; the duplicate is logged once with both files', async () => {
    await writeFile(join(dir, 'b.yaml'), rule('MUTUAL'));
    await writeFile(join(dir, 'a.yaml'), rule('SIMPLE'));
    await source.start((e) => events.push(e));
    expect(events.map(summary)).toEqual(['ADDED SIMPLE@a.yaml', 'SYNCED']);
    const dup = warnings.filter((w) => w.msg.includes('several files'));
    expect(dup).toHaveLength(1);
    expect(dup[0]?.fields).toEqual({
      object: 'DestinationRule/coffee-shop/external-api',
      files: [join(dir, 'a.yaml'), join(dir, 'b.yaml')],
      servedFrom: join(dir, 'a.yaml'),
    });
    await source.refresh();
    expect(warnings.filter((w) => w.msg.includes('several files'))).toHaveLength(1);
    // A new winner is reported again.
    await writeFile(join(dir, 'b.yaml'), rule('ISTIO_MUTUAL'));
    await source.refresh();
    const again = warnings.filter((w) => w.msg.includes('several files'));
    expect(again).toHaveLength(2);
    expect(again[1]?.fields?.servedFrom).toBe(join(dir, 'b.yaml'));
  });
});
