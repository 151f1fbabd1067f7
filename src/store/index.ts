export * from './store.js';
export * from './open.js';
