// Property-based tests of what a runtime hands the CNI plugin: the network config on stdin,
// CNI_ARGS and the CNI_* environment, and the previous plugin's result. Every input parses or
// fails with a CniError carrying a spec code; nothing else is ever thrown.
import { describe, expect } from 'vitest';
import { it, fc } from '@fast-check/vitest';
import { isIP } from 'node:net';
import { fuzzParams, fuzzTimeout } from '../../test/support/fuzz.js';
import { parseCniArgs, parseConfig, parseEnv, podIps, podRef, SUPPORTED_VERSIONS } from './config.js';
import { CNI_CODES, CniError } from './errors.js';

const CODES = new Set<number>(Object.values(CNI_CODES));

function onlyCniErrors<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof CniError) || !CODES.has(err.code)) throw err;
    expect(err.message.length).toBeGreaterThan(0);
    return undefined;
  }
}

const anyValue = fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.constant(null));
/** Network configs near the valid shape: right keys with values of any type. */
const nearConfig = fc.record(
  {
    cniVersion: fc.oneof(fc.constantFrom(...SUPPORTED_VERSIONS, '0.2.0', '2.0.0', ''), anyValue),
    name: fc.oneof(fc.string(), anyValue),
    type: fc.oneof(fc.constant('ambit-cni'), anyValue),
    agentSocket: fc.oneof(fc.string(), anyValue),
    addTimeoutMs: fc.oneof(fc.double(), fc.integer(), anyValue),
    prevResult: fc.oneof(fc.object(), anyValue),
  },
  { requiredKeys: [] },
);

const stdin = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  nearConfig.map((v) => JSON.stringify(v)),
  nearConfig.map((v) => JSON.stringify(v).slice(0, -1)),
);

const ipEntry = fc.record(
  {
    address: fc.oneof(
      fc.ipV4().map((ip) => `${ip}/24`),
      fc.ipV6().map((ip) => `${ip}/64`),
      fc.string(),
      anyValue,
    ),
    interface: fc.oneof(fc.nat({ max: 4 }), fc.integer(), anyValue),
  },
  { requiredKeys: [] },
);
const prevResult = fc.oneof(
  fc.object(),
  fc.record(
    {
      ips: fc.oneof(fc.array(fc.oneof(ipEntry, anyValue), { maxLength: 5 }), anyValue),
      interfaces: fc.oneof(
        fc.array(
          fc.oneof(
            fc.record(
              { name: fc.string(), sandbox: fc.oneof(fc.constantFrom('/var/run/netns/p', ''), anyValue) },
              { requiredKeys: [] },
            ),
            anyValue,
          ),
          { maxLength: 4 },
        ),
        anyValue,
      ),
    },
    { requiredKeys: [] },
  ),
);

/** CNI_ARGS keys and values as a runtime writes them: no ';' anywhere, no '=' in keys. */
const argKey = fc.string({ minLength: 1, maxLength: 20 }).filter((k) => !/[;=]/.test(k));
const argValue = fc.string({ maxLength: 20 }).filter((v) => !v.includes(';'));

describe('CNI plugin input (fuzz)', () => {
  it.prop([stdin], fuzzParams())(
    'parseConfig: a config or a CniError with a spec code',
    (text) => {
      const conf = onlyCniErrors(() => parseConfig(text));
      if (!conf) return;
      expect(SUPPORTED_VERSIONS).toContain(conf.cniVersion);
      expect(conf.name.length > 0 && conf.type.length > 0 && conf.agentSocket.length > 0).toBe(true);
      expect(conf.addTimeoutMs > 0).toBe(true);
    },
    fuzzTimeout(),
  );

  it.prop([fc.oneof(fc.string(), fc.constant(undefined))], fuzzParams())(
    'parseCniArgs: a map or a CniError',
    (value) => {
      onlyCniErrors(() => parseCniArgs(value));
    },
    fuzzTimeout(),
  );

  it.prop(
    [fc.uniqueArray(fc.tuple(argKey, argValue), { selector: ([k]) => k, maxLength: 6 })],
    fuzzParams<[[string, string][]]>({
      examples: [
        [
          [
            ['__proto__', 'x'],
            ['K8S_POD_NAME', 'p'],
          ],
        ],
      ], // found by this property: the key was dropped
    }),
  )(
    'parseCniArgs: every KEY=VALUE pair comes back as written',
    (pairs) => {
      const args = parseCniArgs(pairs.map(([k, v]) => `${k}=${v}`).join(';'));
      expect(Object.keys(args).sort()).toEqual(pairs.map(([k]) => k).sort());
      for (const [k, v] of pairs) expect(Object.getOwnPropertyDescriptor(args, k)?.value).toBe(v);
    },
    fuzzTimeout(),
  );

  const envKeys = ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH', 'CNI_ARGS'] as const;
  const env = fc.record(
    Object.fromEntries(
      envKeys.map((k) => [
        k,
        fc.oneof(
          k === 'CNI_COMMAND'
            ? fc.constantFrom('ADD', 'DEL', 'CHECK', 'VERSION', 'add', '')
            : fc.string({ maxLength: 30 }),
          k === 'CNI_ARGS'
            ? fc.constantFrom('K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_UID=u', 'IgnoreUnknown=1;K8S_POD_NAME=x')
            : fc.string(),
        ),
      ]),
    ) as Record<(typeof envKeys)[number], fc.Arbitrary<string>>,
    { requiredKeys: [] },
  );
  it.prop([env], fuzzParams())(
    'parseEnv and podRef: an environment or a CniError',
    (e) => {
      const parsed = onlyCniErrors(() => parseEnv(e));
      if (parsed) onlyCniErrors(() => podRef(parsed));
    },
    fuzzTimeout(),
  );

  it.prop([prevResult, fc.constantFrom('/var/run/netns/p', '/proc/1/ns/net')], fuzzParams())(
    'podIps never throws and yields only IP addresses, once each',
    (prev, netns) => {
      const ips = podIps(prev as Record<string, unknown>, netns);
      for (const ip of ips) expect(isIP(ip)).not.toBe(0);
      expect(new Set(ips).size).toBe(ips.length);
    },
    fuzzTimeout(),
  );
});
