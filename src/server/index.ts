export * from './app.js';
export * from './bootstrap.js';
