// Moved to test/support/waypoint-harness.ts; this re-export serves suites written before the
// move (remove it once none imports it).
export * from '../support/waypoint-harness.js';
