/**
 * The version, package.json's: scripts/bundle.js defines __OSH_VERSION__ when it bundles; run from
 * source (the tests), it is "dev".
 */
declare const __OSH_VERSION__: string | undefined;

export const VERSION: string = typeof __OSH_VERSION__ === 'string' ? __OSH_VERSION__ : 'dev';
