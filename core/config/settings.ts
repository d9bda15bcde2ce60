// One declaration per setting of a component: where it is read from (an environment
// variable, read-only aliases, a command-line flag), its default, how it is parsed and
// checked, in which modes it is required, and a one-line doc. A component's settings module
// declares all of them; the binary reads its configuration only through `readSettings`, and
// the chart test and `ambitctl local` use the same declarations.
import { AmbitError } from '../errors.js';
import { isSpiffeId } from '../identity/spiffe.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Turns a raw string into a value; throws an Error whose message says what is wrong. */
export type Parser<T> = (raw: string) => T;

export interface Setting<T> {
  /** Environment variable. */
  readonly env?: string;
  /** Older or shared names, read when `env` is unset (never written by the chart). */
  readonly aliases?: readonly string[];
  /** Command-line flag, e.g. `--grpc-port`; wins over the environment. */
  readonly flag?: string;
  /** A flag without a value (`--watch`): true when present. */
  readonly switch?: boolean;
  readonly default: T;
  readonly parse: Parser<T>;
  /** Modes in which a value must be given (no default applies). */
  readonly requiredIn?: readonly string[];
  readonly doc: string;
}

export type SettingMap = Readonly<Record<string, Setting<unknown>>>;

export interface ComponentSpec<S extends SettingMap, M extends string> {
  readonly component: string;
  readonly modes: readonly M[];
  readonly settings: S;
  /** The mode the given input selects (from raw values, before parsing). */
  readonly mode: (raw: RawInput<S>) => M;
}

export type Values<S extends SettingMap> = { readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

/** Raw input: flag values by flag name (`--x`), and the environment. */
export interface Input {
  readonly env?: Env;
  readonly flags?: Readonly<Record<string, string | boolean | undefined>>;
}

export interface RawInput<S extends SettingMap> {
  /** The raw value of a setting and the name it came from, or undefined. */
  get(key: keyof S): { readonly name: string; readonly raw: string } | undefined;
}

export function setting<T>(s: Setting<T>): Setting<T> {
  return s;
}

const configError = (message: string, hint?: string): AmbitError =>
  new AmbitError('AMBIT_E_CONFIG', message, hint ? { hint } : {});

/** Every name a setting may be given by, for messages: `--grpc-port / AMBIT_GRPC_PORT`. */
export function namesOf(s: Setting<unknown>): string[] {
  return [s.flag, s.env, ...(s.aliases ?? [])].filter((n): n is string => n !== undefined);
}

export function rawInput<S extends SettingMap>(settings: S, input: Input): RawInput<S> {
  const env = input.env ?? {};
  return {
    get(key) {
      const s = settings[key]!;
      if (s.flag) {
        const v = input.flags?.[s.flag];
        if (v === true) return { name: s.flag, raw: 'true' };
        if (typeof v === 'string') return { name: s.flag, raw: v };
      }
      for (const name of [s.env, ...(s.aliases ?? [])]) {
        if (name === undefined) continue;
        const v = env[name];
        if (v !== undefined && v !== '') return { name, raw: v };
      }
      return undefined;
    },
  };
}

/** Parses and checks every setting; errors name the variable or flag and say what is wrong. */
export function readSettings<S extends SettingMap, M extends string>(
  spec: ComponentSpec<S, M>,
  input: Input,
): Values<S> & { readonly mode: M } {
  const raw = rawInput(spec.settings, input);
  const mode = spec.mode(raw);
  const out: Record<string, unknown> = { mode };
  const missing: Setting<unknown>[] = [];
  for (const [key, s] of Object.entries(spec.settings)) {
    const given = raw.get(key);
    if (!given) {
      if (s.requiredIn?.includes(mode)) missing.push(s);
      out[key] = s.default;
      continue;
    }
    try {
      out[key] = s.parse(given.raw);
    } catch (err) {
      throw configError(`${given.name}: ${(err as Error).message}: "${given.raw}"`, s.doc);
    }
  }
  if (missing.length > 0) {
    const unset = missing.map((s) => {
      const [first, ...others] = namesOf(s);
      return `${first} is not set${others.length > 0 ? ` (nor ${others.join(', ')})` : ''}`;
    });
    throw configError(`${spec.component} in ${mode} mode: ${unset.join('; ')}`, missing.map((s) => s.doc).join('; '));
  }
  return out as Values<S> & { mode: M };
}

/** Environment variables a component reads (names and aliases). */
export function envNames(settings: SettingMap): Set<string> {
  return new Set(
    Object.values(settings)
      .flatMap((s) => [s.env, ...(s.aliases ?? [])])
      .filter((n): n is string => n !== undefined),
  );
}

export function flagNames(settings: SettingMap): Set<string> {
  return new Set(Object.values(settings).flatMap((s) => (s.flag ? [s.flag] : [])));
}

/** Settings that must be given in `mode`. */
export function requiredIn(settings: SettingMap, mode: string): Array<Setting<unknown>> {
  return Object.values(settings).filter((s) => s.requiredIn?.includes(mode));
}

/**
 * Splits argv (after the program and any subcommand) into the declared flags; unknown flags
 * and missing values are errors, positionals are returned.
 */
export function parseFlags(
  settings: SettingMap,
  argv: readonly string[],
): { flags: Record<string, string | boolean>; positionals: string[] } {
  const byFlag = new Map(
    Object.values(settings)
      .filter((s) => s.flag)
      .map((s) => [s.flag!, s]),
  );
  const flags: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const s = byFlag.get(name);
    if (!s) throw configError(`unknown option '${name}'`, `known options: ${[...byFlag.keys()].join(', ')}`);
    if (s.switch) {
      flags[name] = true;
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw configError(`option '${name}' needs a value`, s.doc);
    flags[name] = value;
  }
  return { flags, positionals };
}

// Parsers shared by the components.

export const parse = {
  string: (raw: string): string => raw,
  port: (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 65535)
      throw new Error('not a port number (0..65535, 0 disables the listener)');
    return n;
  },
  nonNegative: (raw: string): number => {
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error('expected a non-negative number');
    return n;
  },
  boolean: (raw: string): boolean => {
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new Error('expected true or false');
  },
  oneOf:
    <T extends string>(...allowed: T[]) =>
    (raw: string): T => {
      if (!(allowed as string[]).includes(raw)) throw new Error(`expected one of ${allowed.join(', ')}`);
      return raw as T;
    },
  spiffeId: (raw: string): string => {
    if (!isSpiffeId(raw)) throw new Error('expected spiffe://<trust domain>/ns/<namespace>/sa/<service account>');
    return raw;
  },
  trustDomain: (raw: string): string => {
    if (!/^[a-z0-9.-]+$/i.test(raw)) throw new Error('not a trust domain (letters, digits, dots, dashes)');
    return raw;
  },
};

/** Settings every Ambit binary shares (read by core/log.ts). */
export const COMMON_SETTINGS = {
  logLevel: setting<string>({
    env: 'AMBIT_LOG_LEVEL',
    default: 'info',
    parse: parse.oneOf('debug', 'info', 'warn', 'error'),
    doc: 'log level',
  }),
};

/**
 * How an agent or waypoint reaches the controller (controller mode), and who may change its
 * admin state: the same names and rules in both, so the chart sets them the same way.
 */
// A declaration table: entries look alike by design (flag, env, default, parse, doc); duplicates reports them as shape.
export const CONTROLLER_LINK_SETTINGS = {
  controller: setting<string | undefined>({
    env: 'AMBIT_CONTROLLER',
    default: undefined,
    parse: parse.string,
    requiredIn: ['controller'],
    doc: 'controller mode: discovery + CA address (host:15012)',
  }),
  controllerRoots: setting<string | undefined>({
    env: 'AMBIT_CONTROLLER_ROOTS',
    default: undefined,
    parse: parse.string,
    requiredIn: ['controller'],
    doc: 'PEM file of the root the controller certificate chains to (the chart mounts ConfigMap ambit-ca-root-cert)',
  }),
  controllerIdentity: setting<string | undefined>({
    env: 'AMBIT_CONTROLLER_IDENTITY',
    default: undefined,
    parse: parse.spiffeId,
    requiredIn: ['controller'],
    doc: 'SPIFFE id the controller must present, spiffe://<td>/ns/<controller namespace>/sa/ambit-controller',
  }),
  tokenFile: setting<string>({
    env: 'AMBIT_TOKEN_FILE',
    default: '/var/run/secrets/kubernetes.io/serviceaccount/token',
    parse: parse.string,
    doc: 'controller mode: the token presented to the controller (re-read on every use: projected tokens rotate)',
  }),
  adminToken: setting<string | undefined>({
    env: 'AMBIT_ADMIN_TOKEN',
    default: undefined,
    parse: parse.string,
    doc: 'enables POST /logging on the admin port for requests with authorization: Bearer <token> (unset: the admin port is read-only)',
  }),
};
