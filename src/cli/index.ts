export * from './program.js';
export * from './fleet.js';
export * from './build.js';
