// Browser generation time, on WebGPU (SwiftShader on a CPU-only machine: software, not a GPU)
// and on the wasm CPU backend, for the default request (4 x 256 px by the shipped site's model);
// and the README's screenshot.
//
//   node tests/browser/measure.mjs [--runs N] [--only webgpu|cpu] [--screenshot docs/site.png]
//     [--weights FILE --size N] [--photo FILE] [--workers N]
//
// Prints one Markdown row per backend: median and range of the page's wall time per request (from
// the request to its last design, over every worker; before the worker pool it was `elapsed_ms`
// inside the one worker)
// over N runs after a warm-up run (which compiles the WebGPU shaders); how long the page took,
// from the start of navigation, to be ready to generate (weights downloaded, every worker's
// model built) on a first visit and, reloaded, on a warm cache; and which WebGPU adapter the
// browser gave (SwiftShader here, a real GPU on the GPU machine: bench/gpu/browser.sh).
// `--weights` serves a
// model beside the site (config.json's `weights`, as a deployment would) instead of the
// default one www/config.json names; `--photo` restyles that photo (keeping its layout where
// the model can);
// `--workers N` runs the CPU fallback on N workers instead of one per core.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { serveSite, launch, submit, webgpuAdapter } from './support.mjs';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' }, only: { type: 'string' }, screenshot: { type: 'string' },
    weights: { type: 'string' }, size: { type: 'string', default: '256' }, photo: { type: 'string' },
    workers: { type: 'string' },
  },
});
const runs = Number(values.runs);
const size = Number(values.size);
// The default request: 4 designs at the default size, in the steps the page offers (the model's).
const DEFAULT = { room_type: 'living_room', style: 'scandinavian', variations: 4, seed: 42, size };

const site = values.weights
  ? await serveSite({ weights: 'model.weights' }, { 'model.weights': values.weights })
  : await serveSite();
try {
  console.log('| backend | request | ready, first visit (ms) | ready, warm cache (ms) | warm-up (ms) | median (ms) | min-max (ms) |');
  console.log('|---|---|---|---|---|---|---|');
  const backends = { webgpu: [true], cpu: [false] }[values.only] ?? [true, false];
  const url = values.workers ? `${site.base}?workers=${values.workers}` : site.base;
  // From the start of navigation to the generator being ready, as the page times it.
  const untilReady = async (page, navigate) => {
    await navigate();
    await page.waitForSelector('body[data-backend]', { timeout: 300_000 });
    return Number(await page.getAttribute('body', 'data-ready-ms'));
  };
  for (const webgpu of backends) {
    const { browser, page } = await launch('about:blank', { webgpu });
    try {
      const firstVisit = await untilReady(page, () => page.goto(url));
      const warmCache = await untilReady(page, () => page.reload());
      const backend = await page.getAttribute('body', 'data-backend');
      const adapter = backend === 'webgpu' ? await webgpuAdapter(page) : '';
      if (values.photo) {
        await page.setInputFiles('#photo', { name: 'photo.png', mimeType: 'image/png', buffer: readFileSync(values.photo) });
        await page.waitForFunction(() => !document.getElementById('photo-preview').hidden);
      }
      const steps = Number(await page.inputValue('#steps'));
      const elapsed = [];
      for (let run = 0; run <= runs; run++) {
        await submit(page, { ...DEFAULT, steps, seed: DEFAULT.seed + run * 10 });
        elapsed.push(Number(await page.getAttribute('#results', 'data-elapsed-ms')));
      }
      const [warmup, ...timed] = elapsed;
      timed.sort((a, b) => a - b);
      const workers = Number(await page.getAttribute('body', 'data-workers'));
      const label = backend === 'webgpu'
        ? `WebGPU (${/swiftshader/i.test(adapter) ? 'SwiftShader, software' : adapter})`
        : `CPU (wasm SIMD, ${workers} worker${workers === 1 ? '' : 's'})`;
      const what = `4 x ${size} px, ${steps} steps, guidance 3${values.photo ? ', restyling a photo' : ''}`;
      if (timed.length) console.log(`| ${label} | ${what} | ${firstVisit} | ${warmCache} | ${warmup} | ${timed[timed.length >> 1]} | ${timed[0]}-${timed[timed.length - 1]} |`);
      if (!webgpu && values.screenshot) {
        await submit(page, { ...DEFAULT, steps, room_type: 'bedroom', seed: 42 });
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
