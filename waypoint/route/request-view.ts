// The read-only view of a request that route matching, authorization and filters look at.
// Built once per request from the HTTP/1 or HTTP/2 request; header names lower-cased.
import type { Labels } from '../../core/model/types.js';

export interface RequestView {
  readonly method: string;
  /** Path with query string, as received. */
  readonly url: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly authority: string;
  readonly scheme: 'http' | 'https';
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** Service port the request was addressed to. */
  readonly port: number;
  readonly source: {
    readonly ip: string;
    readonly port: number;
    readonly principal?: string;
    readonly namespace?: string;
    readonly labels?: Labels;
  };
}

export function joinHeader(value: string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(',');
}

export function buildRequestView(input: {
  method: string;
  url: string;
  authority: string;
  scheme?: 'http' | 'https';
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  port: number;
  source: RequestView['source'];
}): RequestView {
  const q = input.url.indexOf('?');
  const path = q < 0 ? input.url : input.url.slice(0, q);
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(input.headers)) {
    if (!name.startsWith(':')) headers[name.toLowerCase()] = joinHeader(value);
  }
  return {
    method: input.method.toUpperCase(),
    url: input.url,
    path,
    query: new URLSearchParams(q < 0 ? '' : input.url.slice(q + 1)),
    authority: input.authority,
    scheme: input.scheme ?? 'http',
    headers,
    port: input.port,
    source: input.source,
  };
}
