// Moved to test/support/stale-network.ts; this re-export serves suites written before the move
// (remove it once none imports it).
export * from '../support/stale-network.js';
