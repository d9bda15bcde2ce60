// The checkout's root (the folder with package.json), found the same way from sources and
// from dist/: tests and benches resolve dist/, proto/, deploy/ and examples/ from it.
export { PACKAGE_ROOT as REPO_ROOT } from '../../ctl/local/paths.js';
