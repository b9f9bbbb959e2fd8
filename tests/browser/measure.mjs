// Browser generation time, on WebGPU (SwiftShader on a CPU-only machine: software, not a GPU)
// and on the wasm CPU backend, for the default request; and the README's screenshot.
//
//   node tests/browser/measure.mjs [--runs N] [--only webgpu|cpu] [--screenshot docs/site.png]
//
// Prints one Markdown row per backend: median and range of `elapsed_ms` (inside the worker)
// over N runs after a warm-up run (which compiles the WebGPU shaders).

import { parseArgs } from 'node:util';
import { serveSite, openSite, submit } from './support.mjs';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, only: { type: 'string' }, screenshot: { type: 'string' } },
});
const runs = Number(values.runs);
const DEFAULT = { room_type: 'living_room', style: 'scandinavian', variations: 4, seed: 42, steps: 20, size: 64 };

const site = await serveSite();
try {
  console.log('| backend | request | warm-up (ms) | median (ms) | min-max (ms) |');
  console.log('|---|---|---|---|---|');
  const backends = { webgpu: [true], cpu: [false] }[values.only] ?? [true, false];
  for (const webgpu of backends) {
    const { browser, page } = await openSite(site.base, { webgpu });
    try {
      const backend = await page.getAttribute('body', 'data-backend');
      const elapsed = [];
      for (let run = 0; run <= runs; run++) {
        await submit(page, { ...DEFAULT, seed: DEFAULT.seed + run * 10 });
        elapsed.push(Number(await page.getAttribute('#results', 'data-elapsed-ms')));
      }
      const [warmup, ...timed] = elapsed;
      timed.sort((a, b) => a - b);
      const label = backend === 'webgpu' ? 'WebGPU (SwiftShader, software)' : 'CPU (wasm SIMD, 1 thread)';
      if (timed.length) console.log(`| ${label} | 4 x 64 px, 20 steps, guidance 3 | ${warmup} | ${timed[timed.length >> 1]} | ${timed[0]}-${timed[timed.length - 1]} |`);
      if (!webgpu && values.screenshot) {
        await submit(page, { ...DEFAULT, room_type: 'bedroom', seed: 42 });
        await page.setViewportSize({ width: 1100, height: 760 });
        await page.screenshot({ path: values.screenshot, fullPage: true });
      }
    } finally {
      await browser.close();
    }
  }
} finally {
  site.close();
}
