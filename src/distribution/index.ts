export * from './chunk-source.js';
export * from './fetch-chunks.js';
