import { describe, expect, it } from 'vitest';
import { envNames, parse, parseFlags, readSettings, setting, type ComponentSpec } from './settings.js';

const SETTINGS = {
  port: setting<number>({ flag: '--port', env: 'X_PORT', default: 80, parse: parse.port, doc: 'a port' }),
  ns: setting<string>({
    env: 'POD_NAMESPACE',
    aliases: ['X_NAMESPACE'],
    default: 'default',
    parse: parse.string,
    doc: 'namespace',
  }),
  file: setting<string | undefined>({
    env: 'X_FILE',
    default: undefined,
    parse: parse.string,
    requiredIn: ['file'],
    doc: 'the file',
  }),
  watch: setting<boolean>({ flag: '--watch', switch: true, default: false, parse: parse.boolean, doc: 'keep running' }),
  source: setting<'file' | 'api'>({
    flag: '--source',
    default: 'api',
    parse: parse.oneOf('file', 'api'),
    doc: 'where from',
  }),
};
const SPEC: ComponentSpec<typeof SETTINGS, 'file' | 'api'> = {
  component: 'x',
  modes: ['file', 'api'],
  settings: SETTINGS,
  mode: (raw) => (raw.get('source')?.raw === 'file' ? 'file' : 'api'),
};

describe('declared settings', () => {
  it('takes a flag over its variable, a variable over its alias, and defaults the rest', () => {
    const v = readSettings(SPEC, { env: { X_PORT: '81', X_NAMESPACE: 'b' }, flags: { '--port': '82' } });
    expect(v).toMatchObject({ port: 82, ns: 'b', file: undefined, watch: false, source: 'api', mode: 'api' });
    expect(readSettings(SPEC, { env: { X_PORT: '81', POD_NAMESPACE: 'a', X_NAMESPACE: 'b' } })).toMatchObject({
      port: 81,
      ns: 'a',
    });
    expect(readSettings(SPEC, { env: { X_PORT: '' } }).port).toBe(80);
  });

  it('names the variable or flag of a bad value, and every setting missing in the mode', () => {
    expect(() => readSettings(SPEC, { env: { X_PORT: 'http' } })).toThrow(/X_PORT: not a port number.*"http"/);
    expect(() => readSettings(SPEC, { flags: { '--source': 'file' } })).toThrow(/x in file mode: X_FILE is not set/);
    expect(readSettings(SPEC, { flags: { '--source': 'file' }, env: { X_FILE: '/f' } }).file).toBe('/f');
  });

  it('parses argv against the declared flags only', () => {
    expect(parseFlags(SETTINGS, ['--port', '1', '--watch', '--source=file', 'extra'])).toEqual({
      flags: { '--port': '1', '--watch': true, '--source': 'file' },
      positionals: ['extra'],
    });
    expect(() => parseFlags(SETTINGS, ['--mesh-config', 'x'])).toThrow(/unknown option '--mesh-config'/);
    expect(() => parseFlags(SETTINGS, ['--port'])).toThrow(/'--port' needs a value/);
    expect([...envNames(SETTINGS)].sort()).toEqual(['POD_NAMESPACE', 'X_FILE', 'X_NAMESPACE', 'X_PORT']);
  });
});
