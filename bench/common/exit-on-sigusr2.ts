// Preloaded into a process under `node --cpu-prof` (`node --import <this> ...`): SIGUSR2 makes
// it exit at once through process.exit(), which is when V8 writes the .cpuprofile, whatever
// the process's own shutdown path does.
process.on('SIGUSR2', () => process.exit(0));
export {};
