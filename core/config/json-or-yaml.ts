// Config files are JSON (what tools write) or YAML (what people write). JSON is read without
// loading the YAML parser, which a process that never meets YAML then does not hold; YAML only
// for text that is not JSON (JSON is YAML too, so the meaning is the same either way).
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';

const requireModule = createRequire(import.meta.url);

/** The document in `text`; throws the YAML parser's error for text that is neither. */
export function parseJsonOrYaml(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return (requireModule('yaml') as typeof Yaml).parse(text) as unknown;
  }
}
