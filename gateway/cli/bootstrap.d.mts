// Types for bootstrap.mjs, which stays plain JavaScript because it runs before dependencies exist.
export declare const toolsBin: string;
/** Returns the path of the pinned tool, installing it with `go install` into .tools/bin if needed. */
export declare function ensureTool(name: 'opa' | 'actionlint'): string;
