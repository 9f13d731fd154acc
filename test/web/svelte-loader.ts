/**
 * Lets Node import `web/**\/*.svelte.ts` state classes in tests: strips the types, then compiles the
 * runes with svelte/compiler's `compileModule` (client runtime, which runs fine without a DOM).
 * Use: `node --import ./test/web/svelte-loader.ts --test test/web/*.test.ts`, or import it first.
 */
import { registerHooks, stripTypeScriptTypes } from 'node:module';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { compileModule } from 'svelte/compiler';

registerHooks({
  load(url, context, nextLoad) {
    if (!url.startsWith('file:') || !url.endsWith('.svelte.ts')) return nextLoad(url, context);
    const path = fileURLToPath(url);
    const js = stripTypeScriptTypes(readFileSync(path, 'utf8'), { mode: 'strip' });
    const compiled = compileModule(js, { filename: path, generate: 'client', dev: false });
    return { format: 'module', source: compiled.js.code, shortCircuit: true };
  },
});
