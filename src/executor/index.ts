export * from './run-spec.js';
export * from './free-port.js';
export * from './run-command.js';
export * from './process-group.js';
export * from './output-tail.js';
export * from './supervisor.js';
export * from './health.js';
