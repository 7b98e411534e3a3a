// Module resolve hooks (https://nodejs.org/docs/latest-v20.x/api/module.html#resolvespecifier-context-nextresolve),
// applied to imports made from the conformance package only: `fs` → fs.mjs (adds globSync), `undici` → undici.mjs.
const FS = new URL('./fs.mjs', import.meta.url).href;
const UNDICI = new URL('./undici.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (context.parentURL?.includes('/@modelcontextprotocol/conformance/')) {
    if (specifier === 'fs' || specifier === 'node:fs') return { url: FS, shortCircuit: true };
    if (specifier === 'undici') return { url: UNDICI, shortCircuit: true };
  }
  return next(specifier, context);
}
