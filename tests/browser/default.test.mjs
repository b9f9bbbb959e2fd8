// The site as shipped: www/config.json serves the default model, generator v2 at 256 px (a
// step-distilled transformer over latents), beside the wasm (`make web` copies it into
// www/models/). The page downloads it, offers its labels, 256 px and its steps by default,
// and draws what the native CLI draws for the same request: on the CPU fallback at 256 px,
// and on WebGPU (SwiftShader here: software, so a small request) against the CPU fallback.
//
// Run by `make test` (node --test tests/browser/); needs `make web` and the release CLI.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  root, serveSite, openSite, submit, generate, installDecoder, decodePng, assertClose,
} from './support.mjs';

const cli = join(root, 'target/release/designer');
const designer = (args, input) => JSON.parse(execFileSync(cli, args, { input }).toString());
// At the form's default size and steps (the model's), one design: four take four times as long
// on a 2-core machine's CPU fallback.
const REQUEST = { room_type: 'kitchen', style: 'japandi', variations: 1, seed: 5 };
// WebGPU on SwiftShader emulates a GPU on the CPU: the same model, a small request.
const SMALL = { ...REQUEST, room_type: 'bedroom', style: 'coastal', size: 64, steps: 2 };

let site;
before(async () => {
  site = await serveSite();
});
after(() => site?.close());

let cpuSmall;

test('serves the default model beside the site, offers its labels, size and steps, and draws what the CLI draws', async () => {
  const info = designer(['info']);
  const config = JSON.parse(readFileSync(join(root, 'www/config.json'), 'utf8'));
  // The served file is named by the model's version, so a browser that cached an older one
  // asks for the new one.
  const [name, hash] = info.model.split('@');
  assert.equal(config.weights, `models/${name}-${hash}.weights`, 'www/config.json names the default model');
  const { browser, page } = await openSite(site.base, { webgpu: false });
  try {
    assert.equal(await page.getAttribute('body', 'data-weights'), 'download');
    assert.ok((await page.textContent('#status')).includes(`Model ${info.model} (downloaded)`),
      await page.textContent('#status'));
    const options = (id) => page.$$eval(`#${id} option`, (all) => all.map((o) => o.value));
    assert.deepEqual(await options('room_type'), info.weights.model.vocabulary.room_types);
    assert.deepEqual(await options('style'), info.weights.model.vocabulary.styles);
    assert.equal((await options('style')).length, 16);
    const size = await page.inputValue('#size');
    const steps = await page.inputValue('#steps');
    assert.equal(size, '256');
    // A step-distilled model's few steps, else the teacher's 20: what the core fills in.
    assert.equal(steps, String(info.distilled_steps?.[0] ?? 20));

    await installDecoder(page);
    const [design] = await generate(page, { ...REQUEST, size, steps });
    assert.deepEqual([design.width, design.height], [256, 256]);
    // Without size and steps the CLI fills in the same defaults.
    const native = designer(['generate', '--request', '-', '--json', '--out', site.scratch], JSON.stringify(REQUEST));
    assert.equal(native.model, info.model);
    assertClose(design, await decodePng(page, native.designs[0].png_base64), 'default model, 256 px: browser CPU vs native CLI');

    cpuSmall = (await generate(page, SMALL))[0];
  } finally {
    await browser.close();
  }
});

test('runs the default model on WebGPU as on the CPU', async () => {
  const { browser, page } = await openSite(site.base, { webgpu: true });
  try {
    assert.equal(await page.getAttribute('body', 'data-backend'), 'webgpu', await page.textContent('#status'));
    await installDecoder(page);
    const started = Date.now();
    const [design] = await generate(page, SMALL);
    console.log(`WebGPU (SwiftShader), default model, 1 x 64 px, 2 steps: ${Date.now() - started} ms`);
    assert.ok(cpuSmall, 'the CPU test ran first');
    assertClose(design, cpuSmall, 'default model, 64 px: browser WebGPU vs browser CPU');
  } finally {
    await browser.close();
  }
});
