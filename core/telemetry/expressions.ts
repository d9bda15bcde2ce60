// The parts of Istio's CEL expressions (Telemetry tagOverrides values and accessLogging
// filters) that Ambit evaluates, parsed once by the controller. Anything else is refused with
// the reason, never guessed at.
import { ATTRIBUTES, type Attribute, type CodeComparison, type LogFilter, type ValueExpr } from './policy.js';

export type Parsed<T> = { readonly ok: T } | { readonly error: string };

const ATTRIBUTE_SET: ReadonlySet<string> = new Set(ATTRIBUTES);
const HEADER = /^request\.headers\[\s*(['"])([A-Za-z0-9!#$%&'*+.^_`|~-]+)\1\s*\]$/;
const LITERAL = /^(['"])([^'"\\]*)\1$/;
const STRING_OF = /^string\(\s*([a-z_.]+)\s*\)$/;

/**
 * A tag override value: `'literal'` / `"literal"`, an attribute (`request.host`,
 * `destination.port`… or `string(attribute)`), or `request.headers['name']`.
 */
export function parseValueExpression(text: string): Parsed<ValueExpr> {
  const s = text.trim();
  const lit = LITERAL.exec(s);
  if (lit) return { ok: { literal: lit[2]! } };
  const header = HEADER.exec(s);
  if (header) return { ok: { requestHeader: header[2]!.toLowerCase() } };
  const name = STRING_OF.exec(s)?.[1] ?? s;
  if (ATTRIBUTE_SET.has(name)) return { ok: { attribute: name as Attribute } };
  return {
    error:
      `expression ${JSON.stringify(text)} is not supported: Ambit evaluates a quoted literal, ` +
      `request.headers['name'], or one of ${ATTRIBUTES.join(', ')} (optionally inside string())`,
  };
}

const COMPARISON = /^response\.code\s*(==|!=|<=|>=|<|>)\s*(\d{1,3})$/;

/**
 * An access log filter: `response.code` comparisons joined by `&&` and `||` (`&&` binds
 * tighter), e.g. `response.code >= 400 && response.code != 404 || response.code == 200`.
 */
export function parseFilterExpression(text: string): Parsed<LogFilter> {
  const groups: CodeComparison[][] = [];
  for (const alt of text.split('||')) {
    const group: CodeComparison[] = [];
    for (const part of alt.split('&&')) {
      const m = COMPARISON.exec(
        part
          .trim()
          .replace(/^\((.*)\)$/, '$1')
          .trim(),
      );
      if (!m)
        return {
          error:
            `filter ${JSON.stringify(text)} is not supported: Ambit evaluates response.code comparisons ` +
            `(==, !=, <, <=, >, >= against a number) joined by && and ||`,
        };
      group.push({ op: m[1] as CodeComparison['op'], value: Number(m[2]) });
    }
    groups.push(group);
  }
  return { ok: { expression: text, anyOf: groups } };
}
