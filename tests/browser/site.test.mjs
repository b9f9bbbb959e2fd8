// The static site in headless Chromium (Debian's, through playwright-core), served from a
// sub-path by the same static server `make serve` runs: WebGPU (SwiftShader here), the CPU
// fallback with WebGPU disabled, agreement between them and with the native CLI, and errors.
// Its config.json names no model, so the page runs the small one its bundle carries (64 px);
// default.test.mjs serves the site as shipped, with the 256 px default model.
//
// Run by `make test` (node --test tests/browser/); needs `make web` and the release CLI.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  root, serveSite, openSite, startLambda, submit, generate, installDecoder, decodePng, assertClose,
} from './support.mjs';

const cli = join(root, 'target/release/designer');
// Software WebGPU is slow: a small request keeps the test short.
const REQUEST = { room_type: 'kitchen', style: 'industrial', variations: 2, seed: 11, steps: 3, size: 32 };

let site;
let lambda;
before(async () => {
  lambda = await startLambda();
  site = await serveSite({ lambdaUrl: lambda.url });
});
after(() => {
  site?.close();
  lambda?.close();
});

let webgpuDesigns;
let cpuDesigns;

test('generates on WebGPU when the browser has it, at the requested size', async () => {
  const { browser, page } = await openSite(site.base, { webgpu: true });
  try {
    assert.equal(await page.getAttribute('body', 'data-backend'), 'webgpu', await page.textContent('#status'));
    await installDecoder(page);
    const started = Date.now();
    webgpuDesigns = await generate(page, REQUEST);
    console.log(`WebGPU (SwiftShader) generation: ${Date.now() - started} ms wall, `
      + `${await page.getAttribute('#results', 'data-elapsed-ms')} ms in the worker`);
    assert.equal(webgpuDesigns.length, REQUEST.variations);
    for (const design of webgpuDesigns) {
      assert.deepEqual([design.width, design.height], [REQUEST.size, REQUEST.size]);
    }
    assert.notDeepEqual(webgpuDesigns[0].pixels, webgpuDesigns[1].pixels, 'two seeds, two designs');
    assert.match(await page.textContent('#status'), /2 designs in \d+ ms on webgpu/);
    const link = page.locator('#results figure a').first();
    assert.equal(await link.getAttribute('download'), 'kitchen-industrial-11.png');

    // The page checks its own fields before sending: a refusal says which and why, clears
    // the status and the last designs, and leaves the form ready.
    const refused = async (field, value, message) => {
      await page.fill(field, value);
      await page.click('#generate');
      await page.waitForFunction((text) => document.getElementById('error').textContent === text, message);
      assert.equal(await page.locator('#results figure').count(), 0, 'the last designs are cleared');
      assert.doesNotMatch(await page.textContent('#status'), /Generating/);
      assert.equal(await page.locator('#generate').isEnabled(), true);
    };
    await refused('#seed', '-5', 'Seed must be a whole number from 0 to 9007199254740991');
    await refused('#seed', '9007199254740992', 'Seed must be a whole number from 0 to 9007199254740991');
    await refused('#seed', '9007199254740991',
      'Seed plus variations must stay at most 9007199254740991: the last design\'s seed is seed + variations - 1');
    await page.fill('#seed', '11');
    await refused('#variations', '', 'Variations must be a whole number from 1 to 64');
    await refused('#variations', '99', 'Variations must be a whole number from 1 to 64');
    await page.fill('#variations', '2');
    await refused('#steps', '2.5', 'Steps must be a whole number from 1 to 100');
  } finally {
    await browser.close();
  }
});

test('falls back to the CPU when WebGPU is disabled, and agrees with WebGPU and the CLI', async () => {
  const { browser, page } = await openSite(site.base, { webgpu: false });
  try {
    assert.equal(await page.getAttribute('body', 'data-backend'), 'cpu');
    assert.match(await page.textContent('#status'), /WebGPU is not available \(.+\); running on the CPU/);
    // The pickers offer the labels the model was trained on, as `designer info` prints them,
    // not every label the build knows (a model refuses the ones it never saw). This site is
    // served no model: it runs the small one its bundle carries.
    const info = JSON.parse(execFileSync(cli, ['info', '--weights', join(root, 'core/weights/scenes-64.weights')]).toString());
    const options = (id) => page.$$eval(`#${id} option`, (all) => all.map((o) => o.value));
    const { vocabulary } = info.weights.model;
    assert.deepEqual(await options('room_type'), vocabulary.room_types);
    assert.deepEqual(await options('style'), vocabulary.styles);
    assert.ok(vocabulary.styles.length < info.styles.length, 'the small model knows fewer styles than the build');
    // One worker per core, up to the variations.
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    assert.equal(Number(await page.getAttribute('body', 'data-workers')), Math.max(1, Math.min(cores, 16)));

    await installDecoder(page);
    cpuDesigns = await generate(page, REQUEST);
    assert.equal(cpuDesigns.length, REQUEST.variations);
    // The same request on a single worker gives the same pixels, whichever worker drew a design.
    const single = await openSite(`${site.base}?workers=1`, { webgpu: false });
    try {
      assert.equal(await single.page.getAttribute('body', 'data-workers'), '1');
      await installDecoder(single.page);
      const alone = await generate(single.page, REQUEST);
      for (let i = 0; i < REQUEST.variations; i++) {
        assert.deepEqual(alone[i].pixels, cpuDesigns[i].pixels, `seed ${REQUEST.seed + i}: one worker vs ${cores}`);
      }
    } finally {
      await single.browser.close();
    }

    const native = JSON.parse(execFileSync(cli, ['generate', '--request', '-', '--json', '--out', site.scratch],
      { input: JSON.stringify(REQUEST) }).toString());
    for (let i = 0; i < REQUEST.variations; i++) {
      const cliDesign = await decodePng(page, native.designs[i].png_base64);
      assertClose(cpuDesigns[i], cliDesign, `seed ${REQUEST.seed + i}: browser CPU vs native CLI`);
      if (webgpuDesigns) {
        assertClose(webgpuDesigns[i], cliDesign, `seed ${REQUEST.seed + i}: browser WebGPU vs native CLI`);
        assertClose(webgpuDesigns[i], cpuDesigns[i], `seed ${REQUEST.seed + i}: browser WebGPU vs browser CPU`);
      }
    }
    assert.ok(webgpuDesigns, 'the WebGPU test ran first and produced designs');

    // "Finer on the server": the design redrawn by the Lambda at twice the size, in place.
    const before = await page.locator('#results figure img').first().getAttribute('src');
    await page.locator('#results figure button').first().click();
    await page.waitForFunction(() => /^Server: \d+ px/.test(document.querySelector('#results figure button').textContent)
      || !document.getElementById('error').hidden, null, { timeout: 60_000 });
    assert.equal(await page.locator('#error').isHidden(), true, await page.textContent('#error'));
    const finer = await page.evaluate(async () => {
      const img = document.querySelector('#results figure img');
      await img.decode();
      return pixelsOf(img);
    });
    assert.notEqual(await page.locator('#results figure img').first().getAttribute('src'), before);
    assert.deepEqual([finer.width, finer.height], [2 * REQUEST.size, 2 * REQUEST.size]);
  } finally {
    await browser.close();
  }
});

/** A 48 x 32 PNG drawn in the page: a wall, a floor and a dark window (a room's photo). */
async function roomPhoto(page) {
  const bytes = await page.evaluate(async () => {
    const canvas = document.createElement('canvas');
    canvas.width = 48;
    canvas.height = 32;
    const context = canvas.getContext('2d');
    context.fillStyle = '#c8b4a0';
    context.fillRect(0, 0, 48, 32);
    context.fillStyle = '#6e5a46';
    context.fillRect(0, 22, 48, 10);
    context.fillStyle = '#283040';
    context.fillRect(18, 6, 12, 10);
    const blob = await new Promise((done) => canvas.toBlob(done, 'image/png'));
    return Array.from(new Uint8Array(await blob.arrayBuffer()));
  });
  return Buffer.from(bytes);
}

test('restyles a chosen photo on WebGPU and on the CPU, before and after, and says why a bad file is refused', async () => {
  for (const webgpu of [true, false]) {
    const { browser, page } = await openSite(site.base, { webgpu });
    const backend = webgpu ? 'webgpu' : 'cpu';
    try {
      assert.equal(await page.getAttribute('body', 'data-backend'), backend);
      await installDecoder(page);
      await page.setInputFiles('#photo', { name: 'room.png', mimeType: 'image/png', buffer: await roomPhoto(page) });
      await page.waitForFunction(() => !document.getElementById('photo-preview').hidden);
      const designs = await generate(page, REQUEST);
      assert.equal(designs.length, REQUEST.variations);
      for (const design of designs) assert.deepEqual([design.width, design.height], [REQUEST.size, REQUEST.size]);
      // The small model follows no layouts: it keeps the photo's colours, and says so.
      assert.match(await page.textContent('#status'),
        new RegExp(`2 designs in \\d+ ms on ${backend}( \\(\\d+ workers\\))? from your photo \\(48 x 32, centre-cropped\\), keeping its colours`));
      const plain = webgpu ? webgpuDesigns : cpuDesigns;
      assert.ok(plain, 'the plain designs of this seed were made first');
      assert.notDeepEqual(designs[0].pixels, plain[0].pixels, 'the photo changes the design');

      // Before/after: the slider uncovers the photo over the design, from none to all of it.
      const slider = page.locator('#results figure input[type=range]').first();
      const cover = () => page.locator('#results figure .before').first().evaluate((e) => e.style.clipPath);
      await slider.fill('100');
      assert.match(await cover(), /^inset\(0(px)? 0% 0(px)? 0(px)?\)$/);
      await slider.fill('0');
      assert.match(await cover(), /^inset\(0(px)? 100% 0(px)? 0(px)?\)$/);
      const link = page.locator('#results figure a').first();
      assert.equal(await link.getAttribute('download'), 'kitchen-industrial-11.png');
      assert.match(await link.getAttribute('href'), /^data:image\/png;base64,/);

      // A file that is not a photo: the core's own words, and the form stays usable.
      await page.setInputFiles('#photo', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a photo') });
      await page.waitForFunction(() => document.getElementById('status').textContent.includes('notes.txt'));
      await assert.rejects(submit(page, REQUEST), /invalid photo: not a PNG or JPEG image/);
      assert.equal(await page.locator('#generate').isEnabled(), true);
      // Removed, the next designs are plain again.
      await page.click('#photo-clear');
      const again = await generate(page, REQUEST);
      assert.deepEqual(again[0].pixels, plain[0].pixels);
    } finally {
      await browser.close();
    }
  }
});
