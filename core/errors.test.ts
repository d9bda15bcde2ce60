import { describe, expect, it } from 'vitest';
import { AmbitError, describeError, isAmbitError } from './errors.js';

describe('AmbitError', () => {
  it('carries a stable code and a hint', () => {
    const err = new AmbitError('AMBIT_E_CONFIG', 'bad field', { hint: 'fix the YAML' });
    expect(isAmbitError(err, 'AMBIT_E_CONFIG')).toBe(true);
    expect(isAmbitError(err, 'AMBIT_E_CA')).toBe(false);
    expect(describeError(err)).toBe('AMBIT_E_CONFIG: bad field (hint: fix the YAML)');
    expect(err.toJSON()).toEqual({ code: 'AMBIT_E_CONFIG', message: 'bad field', hint: 'fix the YAML' });
  });
});
