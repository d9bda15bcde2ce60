// The relay lives in core/net (it also splices plain TCP); HBONE users keep importing it here.
export { relay, splice } from '../net/relay.js';
export type { RelayResult, SpliceResult } from '../net/relay.js';
