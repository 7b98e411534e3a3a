// Types for install.mjs, which stays plain JavaScript because the bootstrap runs it before dependencies exist.
export declare const toolsBin: string;
/** Returns the path of the pinned tool, installing it with `go install` into .tools/bin if needed. */
export declare function ensureTool(name: 'opa' | 'actionlint' | 'helm'): string;
/** The folder to give helm as HELM_PLUGINS. */
export declare const helmPluginsDir: string;
/** Returns the HELM_PLUGINS folder holding the pinned helm plugin, building it from its Go module if needed. */
export declare function ensureHelmPlugin(name: 'unittest'): string;
/** The path of `name` in a folder of PATH, or null. */
export declare function onPath(name: string): string | null;
