// Reading numeric settings from the environment, with errors that name the variable.
import { AmbitError } from '../errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** A port 0..65535 (0 = disabled); `fallback` when unset or empty. */
export function envPort(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new AmbitError('AMBIT_E_CONFIG', `${name}: not a port number: "${raw}"`, { hint: 'use an integer 0..65535 (0 disables the listener)' });
  }
  return n;
}

/** A non-negative number; `fallback` when unset or empty. */
export function envNonNegative(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new AmbitError('AMBIT_E_CONFIG', `${name}: expected a non-negative number, got "${raw}"`);
  return n;
}
