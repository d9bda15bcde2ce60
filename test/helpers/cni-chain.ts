// Moved to test/support/cni-chain.ts; this re-export serves suites written before the move
// (remove it once none imports it).
export * from '../support/cni-chain.js';
