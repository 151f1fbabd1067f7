export * from './chunk-source.js';
export * from './fetch-chunks.js';
export * from './availability.js';
export * from './peer-server.js';
export * from './peer-ticket.js';
export * from './rate-limiter.js';
export * from './http-get.js';
export * from './wire-codec.js';
