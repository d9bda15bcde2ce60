// Moved to test/support/local-mesh.ts; this re-export serves suites written before the move
// (remove it once none imports it).
export * from '../support/local-mesh.js';
