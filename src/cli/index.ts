export * from './program.js';
export type { CliContext, GlobalOptions, ProcessCommands } from './context.js';
export * from './output.js';
export * from './build.js';
export * from './watch.js';
export * from './service-map-file.js';
