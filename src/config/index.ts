// Node configuration: defaults < config file < CONVERGE_* environment < flags, validated once.
export * from './config.js';
export * from './parse.js';
