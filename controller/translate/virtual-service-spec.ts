// Named parts of a decoded VirtualService spec (core/crds/networking.ts), so the validator,
// the translators and the analyzer can name what they take.
import type { VirtualServiceSpec } from '../../core/crds/types.js';
import type { IstioObject } from './decode-object.js';

export type VirtualServiceObject = IstioObject<VirtualServiceSpec>;
export type HttpRouteSpec = NonNullable<VirtualServiceSpec['http']>[number];
export type HttpMatchSpec = NonNullable<HttpRouteSpec['match']>[number];
export type HttpRouteDestinationSpec = NonNullable<HttpRouteSpec['route']>[number];
export type DestinationSpec = HttpRouteDestinationSpec['destination'];
export type HeadersSpec = NonNullable<HttpRouteSpec['headers']>;
export type CorsPolicySpec = NonNullable<HttpRouteSpec['corsPolicy']>;
export type TcpRouteSpec = NonNullable<VirtualServiceSpec['tcp']>[number];
export type TlsRouteSpec = NonNullable<VirtualServiceSpec['tls']>[number];
/** A `tcp[]` or `tls[]` route: match blocks (with `sniHosts` for tls) and weighted destinations. */
export type L4RouteSpec = TcpRouteSpec | TlsRouteSpec;
export type L4MatchSpec = NonNullable<TcpRouteSpec['match']>[number] | TlsRouteSpec['match'][number];
export type RouteDestinationSpec = NonNullable<L4RouteSpec['route']>[number];
/** A StringMatch as decoded: at most one of exact, prefix, regex (`{}` in header maps: present). */
export interface StringMatchSpec {
  readonly exact?: string;
  readonly prefix?: string;
  readonly regex?: string;
}
