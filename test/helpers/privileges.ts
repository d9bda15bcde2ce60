// Moved to test/support/privileges.ts; this re-export serves suites written before the move
// (remove it once none imports it).
export * from '../support/privileges.js';
